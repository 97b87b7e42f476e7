import { describe, expect, it } from 'vitest';
import { TRACE_HEADER as library } from '@temporalio/interceptors-opentelemetry/lib/instrumentation.js';
import { createRequire } from 'node:module';

const { TRACE_HEADER } = createRequire(import.meta.url)('../../src/workflows/tracing-interceptors.cjs') as {
  TRACE_HEADER: string;
};

describe('the tracing workflow interceptors', () => {
  it('look for the header the OpenTelemetry interceptors write (they load that library only for a traced run)', () => {
    expect(TRACE_HEADER).toBe(library);
  });
});
