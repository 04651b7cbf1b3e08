import { expect } from "chai";
import { CONFIG_DEFAULTS } from "../components/config";
import { asyncSimulationText, AsyncModel, compareTriggering, DEFAULT_PASS_TIMINGS, drain, insertToStartLatency, runModel } from "../tools/asyncSimulation";

const WORKERS = [95, 240, 120, 60];
const model = (triggering: AsyncModel["triggering"], overrides: Partial<AsyncModel> = {}): AsyncModel => ({
    triggering,
    cap: 50,
    scheduleSeconds: 300,
    minSecondsBetweenTriggers: 60,
    workerSeconds: WORKERS,
    timings: DEFAULT_PASS_TIMINGS,
    ...overrides,
});

describe("the asynchronous fan-out's timing model", () => {
    const t = DEFAULT_PASS_TIMINGS;

    it("starts an entry at the next scheduled pass and marks it DONE at the pass after its run ended", () => {
        const run = runModel(model("schedule", { workerSeconds: [100] }), [0], 0);
        const started = t.passOverheadSeconds + t.perWriteSeconds + t.perSubmissionSeconds + t.runStartSeconds;
        expect(run.entries[0].startedAt).to.equal(started);
        expect(run.entries[0].endedAt).to.equal(started + 100);
        expect(run.entries[0].doneAt).to.be.closeTo(300 + t.passOverheadSeconds + t.perCompletionSeconds + 2 * t.perWriteSeconds, 1e-9);
        expect(run.passLog.map((p) => p.cause)).to.deep.equal(["schedule", "schedule"]);
    });

    it("with the trigger, starts at the trigger's next check, and a worker's end starts the pass that marks it DONE", () => {
        const run = runModel(model("trigger", { workerSeconds: [100] }), [1000], 200, 30);
        const check = 1050; // checks at 30 + 60k s: the first one after the INSERT at 1000 s
        expect(run.entries[0].startedAt).to.equal(check + t.passOverheadSeconds + t.perWriteSeconds + t.perSubmissionSeconds + t.runStartSeconds);
        expect(run.passLog.find((p) => p.start >= 1000)).to.deep.include({ cause: "trigger", start: check });
        const ended = run.entries[0].endedAt as number;
        const marking = run.passLog.find((p) => p.start >= ended);
        expect(marking?.cause).to.equal("trigger");
        expect((marking as { start: number }).start - ended).to.be.at.most(t.triggerCheckSeconds);
    });

    it("never lets the trigger start a pass sooner than the minimum time after the previous pass, nor exceeds the cap", () => {
        const run = runModel(model("trigger"), new Array(500).fill(0), 17, 11);
        run.passLog.forEach((pass, i) => {
            if (i > 0 && pass.cause === "trigger") {
                expect(pass.start - run.passLog[i - 1].end).to.be.at.least(60);
            }
            if (i > 0) {
                expect(pass.start).to.be.at.least(run.passLog[i - 1].end);
            }
        });
        expect(run.maxActive).to.equal(50);
        expect(run.entries.every((e) => e.doneAt !== undefined && (e.startedAt as number) <= (e.doneAt as number))).to.equal(true);
    });

    it("bounds insert-to-start: within the schedule interval without the trigger, about a minute with it", () => {
        const schedule = insertToStartLatency(model("schedule"), 300, 7);
        const trigger = insertToStartLatency(model("trigger"), 300, 7);
        const afterPassStart = t.passOverheadSeconds + t.perWriteSeconds + t.perSubmissionSeconds + t.runStartSeconds;
        expect(schedule.max).to.be.at.most(300 + afterPassStart);
        expect(schedule.mean).to.be.within(150, 150 + afterPassStart + 20);
        // Worst case with the trigger: a safety-net pass (Run Job task + pass) just before the INSERT, the
        // minimum time between triggers after it, a whole check interval, then the pass that submits.
        expect(trigger.max).to.be.at.most(t.runJobTaskSeconds + t.passOverheadSeconds + 60 + t.triggerCheckSeconds + afterPassStart);
        expect(trigger.mean).to.be.below(90);
        expect(trigger.mean).to.be.below(schedule.mean / 2);
    });

    it("drains 500 entries no faster than the work over the cap allows, and faster with the trigger", () => {
        const schedule = drain(model("schedule"), 500, 3, 4);
        const trigger = drain(model("trigger"), 500, 3, 4);
        const work = (WORKERS.reduce((a, b) => a + b, 0) * 500) / 4;
        expect(schedule.lowerBoundSeconds).to.equal(work / 50);
        for (const d of [schedule, trigger]) {
            expect(d.drainSeconds).to.be.above(d.lowerBoundSeconds);
            expect(d.maxActive).to.equal(50);
        }
        expect(trigger.drainSeconds).to.be.below(schedule.drainSeconds);
        expect(drain(model("trigger"), 500, 3, 4)).to.deep.equal(trigger, "the same seed gives the same figures");
    });

    it("compares both at the stack's default cap and interval, and prints the figures and the assumptions", () => {
        const comparison = compareTriggering(WORKERS, { trials: 50 });
        expect(comparison).to.deep.include({
            entries: 500,
            cap: CONFIG_DEFAULTS.asyncConcurrencyCap,
            scheduleSeconds: 60 * CONFIG_DEFAULTS.asyncDispatchIntervalMinutes,
        });
        expect(comparison.rows.map((r) => r.label)).to.deep.equal(["schedule only, every 5 min", "table update trigger + 5 min safety net"]);
        const text = asyncSimulationText(WORKERS, "test workload");
        expect(text).to.match(/^Asynchronous fan-out, modelled: 500 entries at cap 50, worker run times from test workload/);
        expect(text).to.match(/schedule only, every 5 min +\d+m \d+s/);
        expect(text).to.match(/table update trigger \+ 5 min safety net +\d+m \d+s/);
        expect(text).to.contain("trigger checks every 60s; min time between triggers 60s (the API's minimum)");
    });
});
