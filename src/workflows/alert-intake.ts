import { condition, ParentClosePolicy, setHandler, startChild, uuid4, workflowInfo } from '@temporalio/workflow';
import { RunbookInitiator, RunbookName, RunbookPhase, RunbookTarget } from '../contract/search-attributes.js';
import { alertSignal, type AlertInput } from '../contract/messages.js';

/**
 * One intake per (runbook, target), started by the API with signal-with-start on the fixed id
 * `alerts-<runbook>-<target>`: Temporal starts it or signals the one already running, atomically,
 * so an alert storm starts one run however many API instances receive it. The intake starts the
 * runbook's run (its own unique id, abandoned when the intake ends) and forwards every alert to it,
 * where each is journaled; when that run ends and no alert is waiting, the intake ends too and
 * the next alert starts a new one.
 */

export interface AlertIntakeInput {
  runbook: string;
  workflowType: string;
  target: string;
  /** The runbook's input (validated by the API against the catalogue). */
  input: Record<string, unknown>;
}

export interface AlertIntakeResult {
  runs: string[];
  alerts: number;
}

export async function alertIntake(req: AlertIntakeInput): Promise<AlertIntakeResult> {
  const waiting: AlertInput[] = [];
  let alerts = 0;
  setHandler(alertSignal, (a) => {
    waiting.push(a);
    alerts++;
  });
  const runs: string[] = [];
  for (;;) {
    await condition(() => waiting.length > 0);
    // The time-ordered suffix of every run id, from workflow time and the workflow's seeded random.
    const id = `${req.runbook}-${req.target}-${Date.now().toString(36)}${uuid4().slice(0, 6)}`;
    // The run is started by whoever posted the alert that opens it (the API's token, never a channel
    // name), with the API's signature for this intake: four-eyes and the worker's admission see a person.
    // The first firing alert that carries the API's signature opens it (a resolved one never does).
    const { postedBy, start } = waiting.find((a) => a.status === 'firing' && a.start !== undefined) ?? waiting[0]!;
    const initiator = postedBy ?? 'alertmanager';
    const child = await startChild(req.workflowType, {
      workflowId: id,
      args: [{ ...req.input, target: req.target, initiator, dryRun: false, ...(start ? { start } : {}) }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      typedSearchAttributes: [
        { key: RunbookName, value: req.runbook },
        { key: RunbookTarget, value: req.target },
        { key: RunbookInitiator, value: initiator },
        { key: RunbookPhase, value: 'starting' },
      ],
      memo: { startedBy: workflowInfo().workflowId },
    });
    runs.push(id);
    let ended = false;
    void child.result().then(
      () => {
        ended = true;
      },
      () => {
        ended = true;
      },
    );
    while (!ended) {
      await condition(() => waiting.length > 0 || ended);
      if (ended) break;
      const a = waiting.shift()!;
      // A run that ends between our check and the signal cannot take it: it goes to the next run.
      if (
        !(await child.signal(alertSignal, a).then(
          () => true,
          () => false,
        ))
      ) {
        waiting.unshift(a);
        await condition(() => ended);
      }
    }
    if (waiting.length === 0) return { runs, alerts };
  }
}
