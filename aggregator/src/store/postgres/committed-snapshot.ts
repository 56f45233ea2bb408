import type { PoolClient } from "pg";
import { generationKey, type CommittedView, type GroupedBatch } from "../../ingest/batch-group";
import { seriesKey } from "../../ingest/ledger";
import { decodeLabels, encodeLabels } from "../label-values";
import { SCHEMA } from "./postgres-schema";

type GenerationFacts = { readonly committedOffset: number; readonly fileBirthMs: number; readonly filePath: string };

/**
 * The committed state a group is decided against, read inside the group's
 * transaction (which holds the commit lock, so nothing changes under it):
 * only the rows the group's batches touch, never the whole state.
 */
export class CommittedSnapshot implements CommittedView {
  private constructor(
    private readonly generations: ReadonlyMap<string, GenerationFacts>,
    private readonly latestEpochs: ReadonlyMap<string, number>,
    private readonly createdMs: ReadonlyMap<string, number>,
    private readonly countedSeries: ReadonlySet<string>,
    private readonly seriesCounts: ReadonlyMap<string, number>,
    readonly maxSeries: number,
  ) {}

  /** Reads what deciding `group` needs. */
  static async read(client: PoolClient, group: readonly GroupedBatch[], maxSeries: number): Promise<CommittedSnapshot> {
    const generationKeys = distinct(group.map((batch) => [batch.sourceId, batch.generation] as const));
    const fileKeys = distinct(group.map((batch) => [batch.sourceId, batch.fileId] as const));
    const seriesKeys = distinct(group.flatMap((batch) => batch.deltas.map((delta) => [delta.metric, encodeLabels(delta.labels)] as const)));
    const metrics = [...new Set(seriesKeys.map(([metric]) => metric))];
    const sourceIds = [...new Set(group.map((batch) => batch.sourceId))];
    const generations = await client.query<{ source_id: string; generation: string; committed_offset: number; file_birth_ms: number; file_path: string }>(
      `SELECT g.source_id, g.generation, g.committed_offset, g.file_birth_ms, g.file_path FROM ${SCHEMA}.generations g
       JOIN unnest($1::text[], $2::text[]) AS k(source_id, generation) USING (source_id, generation)`,
      columns(generationKeys),
    );
    const epochs = await client.query<{ source_id: string; file_id: string; epoch: number }>(
      `SELECT g.source_id, g.file_id, max(g.epoch) AS epoch FROM ${SCHEMA}.generations g
       JOIN unnest($1::text[], $2::text[]) AS k(source_id, file_id) USING (source_id, file_id) GROUP BY 1, 2`,
      columns(fileKeys),
    );
    const sources = await client.query<{ source_id: string; created_ms: number }>(
      `SELECT source_id, created_ms FROM ${SCHEMA}.sources WHERE source_id = ANY($1::text[])`,
      [sourceIds],
    );
    const counted =
      seriesKeys.length === 0
        ? { rows: [] }
        : await client.query<{ metric: string; label_values: string }>(
            `SELECT s.metric, s.label_values FROM ${SCHEMA}.series s
             JOIN unnest($1::text[], $2::text[]) AS k(metric, label_values) USING (metric, label_values)`,
            columns(seriesKeys),
          );
    const seriesCounts =
      metrics.length === 0
        ? { rows: [] }
        : await client.query<{ name: string; series_count: number }>(`SELECT name, series_count FROM ${SCHEMA}.metrics WHERE name = ANY($1::text[])`, [
            metrics,
          ]);
    return new CommittedSnapshot(
      new Map(
        generations.rows.map((row) => [
          generationKey(row.source_id, row.generation),
          { committedOffset: row.committed_offset, fileBirthMs: row.file_birth_ms, filePath: row.file_path },
        ]),
      ),
      new Map(epochs.rows.map((row) => [generationKey(row.source_id, row.file_id), row.epoch])),
      new Map(sources.rows.map((row) => [row.source_id, row.created_ms])),
      new Set(counted.rows.map((row) => seriesKey(row.metric, decodeLabels(row.label_values)))),
      new Map(seriesCounts.rows.map((row) => [row.name, row.series_count])),
      maxSeries,
    );
  }

  generation(sourceId: string, generation: string): GenerationFacts | undefined {
    return this.generations.get(generationKey(sourceId, generation));
  }

  latestEpoch(sourceId: string, fileId: string): number {
    return this.latestEpochs.get(generationKey(sourceId, fileId)) ?? 0;
  }

  sourceCreatedMs(sourceId: string): number | undefined {
    return this.createdMs.get(sourceId);
  }

  isCounted(metric: string, labels: readonly string[]): boolean {
    return this.countedSeries.has(seriesKey(metric, labels));
  }

  seriesCount(metric: string): number {
    return this.seriesCounts.get(metric) ?? 0;
  }
}

/** Distinct pairs of strings. */
function distinct(pairs: ReadonlyArray<readonly [string, string]>): Array<readonly [string, string]> {
  const seen = new Map<string, readonly [string, string]>();
  for (const pair of pairs) seen.set(`${pair[0]}\u0000${pair[1]}`, pair);
  return [...seen.values()];
}

/** Pairs as two parallel arrays, for unnest(). */
function columns(pairs: ReadonlyArray<readonly [string, string]>): [string[], string[]] {
  return [pairs.map((pair) => pair[0]), pairs.map((pair) => pair[1])];
}
