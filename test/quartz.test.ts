import { expect } from "chai";
import { firstScheduleOverlap, quartzFireTimes } from "../components/quartz";

const FROM = Date.UTC(2027, 0, 1);
const TO = Date.UTC(2028, 0, 1);

/** The first `count` fire times from `from`, as ISO strings (UTC). */
function fires(expression: string, timeZone = "UTC", count = 4, from = FROM): string[] {
    const times: string[] = [];
    for (const instant of quartzFireTimes(expression, timeZone, from, TO)) {
        times.push(new Date(instant).toISOString().slice(0, 16));
        if (times.length === count) break;
    }
    return times;
}

describe("Quartz fire times, as Databricks job schedules fire", () => {
    it("expands values, ranges, steps, lists and names", () => {
        expect(fires("0 0/20 2 * * ?")).to.deep.equal(["2027-01-01T02:00", "2027-01-01T02:20", "2027-01-01T02:40", "2027-01-02T02:00"]);
        expect(fires("0 10-20/5 1 * * ?")).to.deep.equal(["2027-01-01T01:10", "2027-01-01T01:15", "2027-01-01T01:20", "2027-01-02T01:10"]);
        expect(fires("0 0 22-1 * * ?")).to.deep.equal(["2027-01-01T00:00", "2027-01-01T01:00", "2027-01-01T22:00", "2027-01-01T23:00"]);
        expect(fires("0 30 10 ? JAN MON,WED")).to.deep.equal(["2027-01-04T10:30", "2027-01-06T10:30", "2027-01-11T10:30", "2027-01-13T10:30"]);
        expect(fires("0 0 12 1 1 ? 2029", "UTC", 1, FROM)).to.deep.equal([]);
    });

    it("follows the special day forms: L, L-n, LW, nW, nL and n#k", () => {
        expect(fires("0 0 12 L * ?", "UTC", 2)).to.deep.equal(["2027-01-31T12:00", "2027-02-28T12:00"]);
        expect(fires("0 0 12 L-2 * ?", "UTC", 2)).to.deep.equal(["2027-01-29T12:00", "2027-02-26T12:00"]);
        // 2027-07-31 is a Saturday: the last weekday is Friday the 30th.
        expect(fires("0 0 12 LW 7 ?", "UTC", 1)).to.deep.equal(["2027-07-30T12:00"]);
        // 2027-05-15 is a Saturday (Friday the 14th is nearest); 2027-08-01 a Sunday (Monday the 2nd, not July).
        expect(fires("0 0 12 15W 5 ?", "UTC", 1)).to.deep.equal(["2027-05-14T12:00"]);
        expect(fires("0 0 12 1W 8 ?", "UTC", 1)).to.deep.equal(["2027-08-02T12:00"]);
        expect(fires("0 0 12 ? * 6L", "UTC", 2)).to.deep.equal(["2027-01-29T12:00", "2027-02-26T12:00"]);
        expect(fires("0 0 12 ? * 2#1", "UTC", 2)).to.deep.equal(["2027-01-04T12:00", "2027-02-01T12:00"]);
    });

    it("skips a wall time the clocks jump over and takes both instants of one they repeat", () => {
        // Europe/Amsterdam in 2027: summer time from 28 March 02:00, winter time from 31 October 03:00.
        expect(fires("0 0 2 * * ?", "Europe/Amsterdam", 3, Date.UTC(2027, 2, 27))).to.deep.equal(["2027-03-27T01:00", "2027-03-29T00:00", "2027-03-30T00:00"]);
        expect(fires("0 30 2 * * ?", "Europe/Amsterdam", 3, Date.UTC(2027, 9, 30))).to.deep.equal(["2027-10-30T00:30", "2027-10-31T00:30", "2027-10-31T01:30"]);
    });

    it("finds the first pair of fire times, one from each schedule, closer than the window", () => {
        const daily = (expression: string) => ({ expression, timeZone: "UTC" });
        expect(firstScheduleOverlap(daily("0 0 2 * * ?"), daily("0 0 4 * * ?"), 7200, FROM, TO)).to.equal(undefined);
        expect(firstScheduleOverlap(daily("0 0 2 * * ?"), daily("0 0 4 * * ?"), 7201, FROM, TO)).to.deep.equal({
            first: Date.UTC(2027, 0, 1, 2),
            second: Date.UTC(2027, 0, 1, 4),
        });
        // The other schedule firing first counts as much: 23:00 one day against 00:30 the next.
        expect(firstScheduleOverlap(daily("0 30 0 * * ?"), daily("0 0 23 * * ?"), 7200, FROM, TO)).to.deep.equal({
            first: Date.UTC(2027, 0, 1, 23),
            second: Date.UTC(2027, 0, 2, 0, 30),
        });
        expect(firstScheduleOverlap(daily("0 0 2 1 * ?"), daily("0 0 2 15 * ?"), 86400, FROM, TO)).to.equal(undefined);
    });
});
