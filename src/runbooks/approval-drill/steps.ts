import { defineProcedure } from '../../contract/procedure.js';

/** approval-drill's steps and gates, in order (what derives from them: src/runbooks/README.md). */
export const procedure = defineProcedure('approval-drill', [
  {
    id: 'lock-target',
    kind: 'step',
    title: "Take the target's lock, as changing runbooks do (to practise a locked target)",
    onlyWith: 'takeLock',
  },
  { id: 'proceed', kind: 'gate', title: 'Approve to proceed (four-eyes, one approver). Nothing will be changed.' },
  { id: 'record-decision', kind: 'step', title: 'Record who approved and how the decision arrived' },
]);
