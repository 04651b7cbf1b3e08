/**
 * Runs the policy pack the way the Pulumi CLI does, without the CLI: `@pulumi/pulumi/cmd/run-policy-pack`
 * started in the pack's directory (which compiles index.ts with ts-node and type checks it), the
 * stack's name and config in the environment, then the Analyzer gRPC calls the engine makes.
 */
import { ChildProcess, spawn } from "child_process";
import * as path from "path";
import * as grpc from "@grpc/grpc-js";
import { AnalyzerClient } from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import { AnalyzeRequest, AnalyzerResourceOptions, ConfigureAnalyzerRequest, EnforcementLevel, PolicyConfig } from "@pulumi/pulumi/proto/analyzer_pb";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { PROJECT_ROOT } from "../../tools/offline";

export const POLICY_DIR = path.join(PROJECT_ROOT, "policy");

export interface PackDiagnostic {
    readonly policy: string;
    readonly mandatory: boolean;
    readonly message: string;
}

export interface PackInfo {
    readonly name: string;
    readonly policies: { readonly name: string; readonly mandatory: boolean; readonly configKeys: string[] }[];
}

export interface RunningPack {
    info(): Promise<PackInfo>;
    configure(config: Record<string, Record<string, unknown>>): Promise<void>;
    analyze(resource: { type: string; name: string; inputs: Record<string, unknown> }): Promise<PackDiagnostic[]>;
    stop(): void;
}

function unary<T>(call: (callback: (error: grpc.ServiceError | null, response: T) => void) => void): Promise<T> {
    return new Promise((resolve, reject) => call((error, response) => (error ? reject(error) : resolve(response))));
}

/** Starts the pack for `stack` with the stack's config (`<project>:<key>` to value), as the CLI would. */
export function startPolicyPack(stack: string, config: Record<string, string>, project = "notebook-orchestration"): Promise<RunningPack> {
    const runner = require.resolve("@pulumi/pulumi/cmd/run-policy-pack", { paths: [POLICY_DIR] });
    const child: ChildProcess = spawn(process.execPath, [runner, "127.0.0.1:0", "."], {
        cwd: POLICY_DIR,
        env: { ...process.env, PULUMI_NODEJS_STACK: stack, PULUMI_NODEJS_PROJECT: project, PULUMI_CONFIG: JSON.stringify(config) },
        stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr?.on("data", (chunk) => (stderr += String(chunk)));
    return new Promise((resolve, reject) => {
        child.on("exit", (code) => reject(new Error(`the policy pack exited with ${code} before serving:\n${stderr}`)));
        child.stdout?.once("data", (chunk) => {
            const port = String(chunk).trim();
            const client = new AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
            resolve({
                async info() {
                    const info = await unary<import("@pulumi/pulumi/proto/analyzer_pb").AnalyzerInfo>((cb) => client.getAnalyzerInfo(new Empty(), cb));
                    return {
                        name: info.getName(),
                        policies: info.getPoliciesList().map((p) => ({
                            name: p.getName(),
                            mandatory: p.getEnforcementlevel() === EnforcementLevel.MANDATORY,
                            configKeys: Object.keys((p.getConfigschema()?.getProperties()?.toJavaScript() ?? {}) as object),
                        })),
                    };
                },
                async configure(config) {
                    const request = new ConfigureAnalyzerRequest();
                    for (const [policy, properties] of Object.entries(config)) {
                        const policyConfig = new PolicyConfig();
                        policyConfig.setEnforcementlevel(EnforcementLevel.MANDATORY);
                        policyConfig.setProperties(Struct.fromJavaScript(properties as Record<string, never>));
                        request.getPolicyconfigMap().set(policy, policyConfig);
                    }
                    await unary((cb) => client.configure(request, cb));
                },
                async analyze(resource) {
                    const request = new AnalyzeRequest();
                    request.setType(resource.type);
                    request.setName(resource.name);
                    request.setUrn(`urn:pulumi:${stack}::${project}::${resource.type}::${resource.name}`);
                    request.setProperties(Struct.fromJavaScript(JSON.parse(JSON.stringify(resource.inputs)) as Record<string, never>));
                    request.setOptions(new AnalyzerResourceOptions());
                    const response = await unary<import("@pulumi/pulumi/proto/analyzer_pb").AnalyzeResponse>((cb) => client.analyze(request, cb));
                    return response.getDiagnosticsList().map((d) => ({
                        policy: d.getPolicyname(),
                        mandatory: d.getEnforcementlevel() === EnforcementLevel.MANDATORY,
                        message: d.getMessage(),
                    }));
                },
                stop() {
                    client.close();
                    child.removeAllListeners("exit");
                    child.kill();
                },
            });
        });
    });
}
