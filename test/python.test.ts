import { spawnSync } from "child_process";
import * as path from "path";
import { expect } from "chai";

/**
 * The Python specs under test/python (plain unittest, for the notebooks' pure-Python logic), run once
 * with python3 and reported here one mocha test per Python test, so `npm test` is the one command.
 */
const run = spawnSync("python3", ["-m", "unittest", "discover", "-v", "-s", path.join(__dirname, "python")], { encoding: "utf8" });
const lines = run.stderr.split("\n");
const results = lines
    .map((line) => /^(test_\w+) \(([\w.]+)\)\s*(?:\n|.)*?\.\.\. (ok|FAIL|ERROR|skipped.*)$/.exec(line))
    .filter((match): match is RegExpExecArray => match !== null)
    .map(([, name, suite, outcome]) => ({ name, suite: suite.replace(/\.test_\w+$/, ""), outcome }));

describe("Python specs (test/python)", () => {
    it("ran and found tests", () => {
        expect(run.error, "python3 could not be started").to.equal(undefined);
        expect(results.length, run.stderr).to.be.greaterThan(0);
        expect(run.status, run.stderr).to.equal(0);
    });
    for (const result of results) {
        it(`${result.suite}: ${result.name.replace(/^test_/, "").replace(/_/g, " ")}`, () => {
            const detail = run.stderr.slice(run.stderr.indexOf(`: ${result.name} (`) - 5);
            expect(result.outcome, detail).to.equal("ok");
        });
    }
});
