/**
 * Reads the Prometheus text exposition format (what an app's /metrics serves) far enough to say
 * which metric families it exposes and their samples. Pure, unit-tested.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type?: string;
  samples: Sample[];
}

const SUFFIXES = ['_bucket', '_sum', '_count', '_total', '_created'];

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const m of text.matchAll(re))
    labels[m[1]!] = m[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
  return labels;
}

/** Families by name; a sample with a histogram/summary suffix joins its declared family. */
export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, samples: [] }));
    return f;
  };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const meta = /^#\s*(HELP|TYPE)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\s+(.*))?$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') family(meta[2]!).type = meta[3]?.trim();
      else family(meta[2]!);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const name = m[1]!;
    const value = Number(m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : m[3]);
    const base = families.has(name)
      ? name
      : (SUFFIXES.map((s) => (name.endsWith(s) ? name.slice(0, -s.length) : '')).find((b) => b && families.has(b)) ??
        name);
    family(base).samples.push({ name, labels: m[2] ? parseLabels(m[2]) : {}, value });
  }
  return families;
}

/**
 * The app's metric families, by key: what `app.metricNames` maps (each key defaults to the name
 * here) and what the alert rules and observability-check read. The seeds' key metrics
 * ("Observabilidad") and the symptoms the runbooks answer.
 */
export const METRIC_NAMES = {
  /** Counter of 401/403 answers (observability-check). */
  'auth-failures': 'gestiq_auth_failures_total',
  /** Gauge of import items by status (stuck-imports). */
  'imports-items': 'gestiq_import_items',
  /** Counters of payment attempts and errors by provider (payments-failed). */
  'payment-attempts': 'gestiq_payment_attempts_total',
  'payment-errors': 'gestiq_payment_errors_total',
  /** Counter of failed e-invoice emissions and the emission latency histogram (einvoicing-failed). */
  'einvoice-failures': 'gestiq_einvoice_failures_total',
  'einvoice-latency': 'gestiq_einvoice_latency_seconds',
  /** Counter of requests by status (login-errors' 401/403 share). */
  'http-requests': 'gestiq_http_requests_total',
  /** Gauge, 1 when the database's alembic revision is the code's head, else 0 (migration-failed). */
  'migration-at-head': 'gestiq_alembic_at_head',
  /** Counter of SQL errors for a column or table the models have and the database lacks (schema-drift). */
  'schema-errors': 'gestiq_db_schema_errors_total',
  /** Counter of FileNotFoundError raised by the app (missing-container-file). */
  'missing-files': 'gestiq_file_not_found_total',
  /** Info gauge with label version: the PWA build served (pwa-stale-cache). */
  'pwa-build': 'gestiq_pwa_build_info',
} as const;

export type MetricKey = keyof typeof METRIC_NAMES;
export type MetricNames = Record<MetricKey, string>;

/** The seeds' key metrics ("Observabilidad": auth 401/403, imports failed/pending, payments attempts vs errors, e-invoicing failures/latency). */
export const KEY_METRICS: Partial<MetricNames> = Object.fromEntries(
  (
    [
      'auth-failures',
      'imports-items',
      'payment-attempts',
      'payment-errors',
      'einvoice-failures',
      'einvoice-latency',
    ] as const
  ).map((k) => [k, METRIC_NAMES[k]]),
);

/** Sum of a family's samples whose labels include `match` (a histogram's `_count` for latency). */
export function total(f: Family | undefined, match: Record<string, string> = {}): number | undefined {
  if (!f) return undefined;
  const samples = f.samples.filter((s) => Object.entries(match).every(([k, v]) => s.labels[k] === v));
  const counted =
    f.type === 'histogram' || f.type === 'summary' ? samples.filter((s) => s.name.endsWith('_count')) : samples;
  return counted.reduce((sum, s) => sum + s.value, 0);
}
