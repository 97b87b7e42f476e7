// The failure converter of encrypted workers and clients (see src/codec.ts): a failure's message
// and stack trace go into its encoded attributes, a payload the codec encrypts, so a failed run's
// history holds no plaintext of why it failed. CommonJS because the SDK require()s it by path in
// the worker and clients, and bundles it into the workflow code too.
const { DefaultFailureConverter } = require('@temporalio/common');

exports.failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
