import type { Timeline } from './audit/timeline.js';
import type { DecisionRequest, RunSummary, RunView, ScheduleView } from './client.js';
import type { GateView } from './contract/types.js';

/** The CLI's path through the HTTP API (RUNBOOK_API + RUNBOOK_TOKEN): decisions are signed there. */
export class ApiBackend {
  constructor(
    private readonly base: string,
    private readonly token: string,
  ) {}

  private async call<T>(method: string, path: string, body?: unknown, accept = 'application/json'): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.base.replace(/\/$/, '')}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.token}`,
          accept,
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
      });
    } catch (err) {
      throw new Error(
        `The API at ${this.base} did not answer (${(err as Error).message}). Is \`npm start\` running, and RUNBOOK_API right?`,
      );
    }
    const text = await res.text();
    if (!res.ok) {
      const message = (() => {
        try {
          return (JSON.parse(text) as { error?: string }).error ?? text;
        } catch {
          return text;
        }
      })();
      throw new Error(`${message} (HTTP ${res.status})`);
    }
    if (text === '') return undefined as T; // 204 No Content
    return (accept === 'application/json' ? JSON.parse(text) : text) as T;
  }

  start(runbook: string, req: { target: string; input?: Record<string, unknown>; dryRun?: boolean }) {
    return this.call<{ id: string; uiUrl: string }>('POST', `/runbooks/${encodeURIComponent(runbook)}/runs`, req);
  }
  status(id: string) {
    return this.call<RunView>('GET', `/runs/${encodeURIComponent(id)}`);
  }
  async list(f: Record<string, string | number | undefined>) {
    const q = new URLSearchParams(Object.entries(f).flatMap(([k, v]) => (v === undefined ? [] : [[k, String(v)]])));
    return (await this.call<{ runs: RunSummary[] }>('GET', `/runs?${q.toString()}`)).runs;
  }
  async decide(id: string, gate: string, d: DecisionRequest) {
    return (
      await this.call<{ gate: GateView }>(
        'POST',
        `/runs/${encodeURIComponent(id)}/gates/${encodeURIComponent(gate)}`,
        d,
      )
    ).gate;
  }
  async abort(id: string, reason: string) {
    await this.call('POST', `/runs/${encodeURIComponent(id)}/abort`, { reason });
  }
  async rootCause(id: string, note: string) {
    await this.call('POST', `/runs/${encodeURIComponent(id)}/root-cause`, { note });
  }
  createSchedule(
    runbook: string,
    target: string,
    every: string,
    opts: { input?: Record<string, unknown>; note?: string },
  ) {
    return this.call<ScheduleView>('POST', '/schedules', { runbook, target, every, ...opts });
  }
  async listSchedules() {
    return (await this.call<{ schedules: ScheduleView[] }>('GET', '/schedules')).schedules;
  }
  describeSchedule(id: string) {
    return this.call<ScheduleView>('GET', `/schedules/${encodeURIComponent(id)}`);
  }
  pauseSchedule(id: string, note?: string) {
    return this.call<ScheduleView>('POST', `/schedules/${encodeURIComponent(id)}/pause`, note ? { note } : {});
  }
  unpauseSchedule(id: string, note?: string) {
    return this.call<ScheduleView>('POST', `/schedules/${encodeURIComponent(id)}/unpause`, note ? { note } : {});
  }
  async triggerSchedule(id: string) {
    await this.call('POST', `/schedules/${encodeURIComponent(id)}/trigger`, {});
  }
  async deleteSchedule(id: string) {
    await this.call('DELETE', `/schedules/${encodeURIComponent(id)}`);
  }
  timelineJson(id: string) {
    return this.call<Timeline>('GET', `/runs/${encodeURIComponent(id)}/timeline?format=json`);
  }
  timelineMarkdown(id: string) {
    return this.call<string>('GET', `/runs/${encodeURIComponent(id)}/timeline?format=md`, undefined, 'text/markdown');
  }
}
