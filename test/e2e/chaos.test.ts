import { test } from "node:test";
import * as assert from "node:assert/strict";
import { postgresUnavailable } from "@logtally/testing";
import { EXACT_FAULTS, POSTGRES_EXACT_FAULTS } from "../chaos/fault-kinds";
import { formatResult, runScenario } from "../chaos/scenario";

/**
 * The bounded chaos selection for every test run: every exact fault kind
 * once, in one scenario with rows flowing throughout, on SQLite and on
 * PostgreSQL replicas, then copytruncate on its own. `npm run chaos` runs
 * many random scenarios.
 */
test("every fault kind, rows flowing: every row counted exactly once", async () => {
  const result = await runScenario({ seed: 20_260_101, faults: EXACT_FAULTS });
  assert.ok(result.ok, formatResult(1, result));
  assert.equal(result.lost, 0);
  assert.equal(result.duplicated, 0);
  assert.ok(result.rowsWritten > 10_000, `only ${result.rowsWritten} rows were written`);
  assert.equal(result.rowsCounted, result.rowsWritten);
});

test("every fault kind valid on PostgreSQL, three replicas behind a Service: every replica counts every row exactly once", {
  skip: postgresUnavailable(),
}, async () => {
  const result = await runScenario({ seed: 20_260_103, faults: POSTGRES_EXACT_FAULTS, store: "postgres", replicas: 3 });
  assert.ok(result.ok, formatResult(1, result));
  assert.deepEqual(result.unexpectedExits, [], "no process died of the faults");
  assert.equal(result.lost, 0);
  assert.equal(result.duplicated, 0);
  assert.ok(result.rowsWritten > 10_000, `only ${result.rowsWritten} rows were written`);
  assert.equal(result.rowsCounted, result.rowsWritten);
});

test("copytruncate may lose the rows of its window but never counts one twice", async () => {
  const result = await runScenario({ seed: 20_260_102, faults: ["copytruncate", "copytruncate"] });
  assert.ok(result.ok, formatResult(1, result));
  assert.equal(result.duplicated, 0);
  assert.equal(result.unexpectedSeries, 0);
  assert.equal(result.rowsCounted + result.lost, result.rowsWritten);
  // The rows written between a copy and its truncation are all that may go missing.
  assert.ok(
    result.lost >= 0 && result.lost <= result.lossBound,
    `lost ${result.lost} rows, more than the ${result.lossBound} written inside the copytruncate windows`,
  );
});
