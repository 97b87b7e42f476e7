import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** The custom search attributes that make runs findable in the Temporal UI. All keyword. */
export const RunbookName = defineSearchAttributeKey('RunbookName', SearchAttributeType.KEYWORD);
export const RunbookTarget = defineSearchAttributeKey('RunbookTarget', SearchAttributeType.KEYWORD);
export const RunbookPhase = defineSearchAttributeKey('RunbookPhase', SearchAttributeType.KEYWORD);
export const RunbookInitiator = defineSearchAttributeKey('RunbookInitiator', SearchAttributeType.KEYWORD);

export const searchAttributeKeys = [RunbookName, RunbookTarget, RunbookPhase, RunbookInitiator];
