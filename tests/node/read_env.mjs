// Reads OTEL_RESOURCE_ATTRIBUTES (and OTEL_SERVICE_NAME) from this process's
// environment with the JavaScript SDK's own envDetector and prints the detected
// attributes as one JSON object on stdout. Why the detector discarded the
// variable, if it did, goes to stderr (the SDK only says so at diag DEBUG).
// Used by tests/test_otelenv.py; `npm ci` in this directory installs the SDK.
import { diag, DiagLogLevel } from "@opentelemetry/api";
import { envDetector } from "@opentelemetry/resources";

const toStderr = (...args) => process.stderr.write(args.join(" ") + "\n");
diag.setLogger(
  { error: toStderr, warn: toStderr, info: toStderr, debug: toStderr, verbose: toStderr },
  DiagLogLevel.DEBUG,
);

const detected = envDetector.detect();
const attributes = {};
for (const [key, value] of Object.entries(detected.attributes ?? {})) {
  attributes[key] = await value; // a detector may hand back promises; this one does not
}
process.stdout.write(JSON.stringify(attributes) + "\n");
