import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { describe, it } from "node:test";
import { EARLY_TIER_UP_FLAGS } from "./v8-tiering";

/**
 * A function of the size of a batch's steps, called 60 times a few
 * milliseconds apart (as a batch path is, only faster), then asked whether V8
 * optimized it: with the flags given as argv, set as tierUpEarly() sets them.
 */
const PROBE = `
for (const flag of process.argv.slice(1)) require("node:v8").setFlagsFromString(flag);
function work(rows) {
  let total = 0;
  for (const row of rows) {
    const parts = row.split(",");
    total += parts[0].length * 3 + parts[1].length;
    if (total > 1e9) total = 0;
  }
  return total;
}
const rows = Array.from({ length: 5 }, (_, index) => "host-" + index + ",job-" + (index % 3));
(async () => {
  for (let call = 0; call < 60; call++) {
    work(rows);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  %WaitForBackgroundOptimization();
  // Bit 4 of V8's optimization status: the function runs optimized code.
  process.stdout.write(String((%GetOptimizationStatus(work) & 16) !== 0));
})();
`;

function optimizedAfter60Calls(flags: readonly string[]): boolean {
  return execFileSync(process.execPath, ["--allow-natives-syntax", "-e", PROBE, ...flags], { encoding: "utf8" }) === "true";
}

describe("tierUpEarly", () => {
  it("has V8 optimize a function called tens of times, which its defaults leave unoptimized", () => {
    assert.equal(optimizedAfter60Calls([]), false, "V8's defaults optimize after 60 calls already: the flags are not needed");
    assert.equal(optimizedAfter60Calls(EARLY_TIER_UP_FLAGS), true);
  });
});
