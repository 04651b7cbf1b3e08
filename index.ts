// The Pulumi program: read the stack's configuration once (validated before any resource is
// declared), then declare the ETL for this environment. Its outputs are the stack outputs.
import { loadStackConfig } from "./components/config";
import { orchestrationStack } from "./components/stack";

export = async () => orchestrationStack(loadStackConfig());
