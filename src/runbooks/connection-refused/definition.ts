import { z } from 'zod';
import { defineRunbook } from '../define.js';
import { procedure } from './steps.js';

export const definition = defineRunbook({
  procedure,
  workflowType: 'connectionRefused',
  description:
    "The app's port refuses connections: TCP probe, the service's state, the compose file's port mapping (missing or wrong → the fix), then recreate the service behind a gate (docker compose up -d --force-recreate, or the target's restart driver) and verify the port answers and the app is ready.",
  input: z.strictObject({}),
});
