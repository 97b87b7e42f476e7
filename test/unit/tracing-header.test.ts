import { describe, expect, it } from 'vitest';
import { TRACE_HEADER as library } from '@temporalio/interceptors-opentelemetry/lib/instrumentation.js';
import { TRACE_HEADER } from '../../src/workflows/tracing-interceptors.js';

describe('the tracing workflow interceptors', () => {
  it('look for the header the OpenTelemetry interceptors write (they load that library only for a traced run)', () => {
    expect(TRACE_HEADER).toBe(library);
  });
});
