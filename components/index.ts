/**
 * The components another Pulumi program imports (docs/components.md), e.g.
 *
 *     import { NotebookFolder, OrchestrationLibrary, ParallelNotebookJob } from "<this repository>/components";
 *
 * This stack's own program (components/stack.ts) is built from the same components.
 */
export {
    OrchestrationLibrary,
    ParallelNotebookJob,
    SequentialNotebookJob,
    ORCHESTRATE_TASK_KEY,
    ORCHESTRATORS_FOLDER,
    orchestratorDescription,
} from "./orchestratorJobs";
export type { NotebookOrchestratorJobArgs, OrchestrationLibraryArgs, OrchestratorCompute, ParallelNotebookJobArgs, WorkItemSpec } from "./orchestratorJobs";
export { NotebookFolder, StackNotebooks, movedNotebook } from "./notebooks";
export type { NotebookFolderArgs, StackNotebooksArgs } from "./notebooks";
export { NotebookJob } from "./jobs";
export type { ForEachTaskSpec, NotebookJobArgs, NotebookTaskSpec } from "./jobs";
export { DatabricksWorkspace } from "./workspace";
export type { DatabricksWorkspaceArgs } from "./workspace";
export { EtlCompute } from "./compute";
export type { EtlComputeArgs, TaskCompute } from "./compute";
export { KeyVaultSecretScope } from "./secrets";
export type { KeyVaultSecretScopeArgs } from "./secrets";
export { AsyncFanOut, asyncWorkerNotebooks } from "./asyncFanOut";
export type { AsyncFanOutArgs } from "./asyncFanOut";
export { RunLogDashboard } from "./dashboard";
export type { RunLogDashboardArgs } from "./dashboard";
export {
    canonicalArguments,
    defaultItemName,
    DEFAULT_WORK_ITEMS,
    discoverNotebooks,
    forEachShape,
    normaliseNotebook,
    notebookPath,
    parseWorkItems,
} from "./workItems";
export type { ForEachShape, NotebookFile, ParsedWorkItems, WorkItem, WorkItemContext } from "./workItems";
export type { ScheduleConfig } from "./config";
