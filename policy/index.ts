// The policy pack's entry point, run by the Pulumi CLI: `pulumi preview --policy-pack policy`.
// The policies live in policies.ts (and their rules in rules.ts) so that tests can use them without
// starting the pack's gRPC server, which constructing a PolicyPack does.
import { PolicyPack } from "@pulumi/policy";
import { createPolicies, engineStackContext, memoize, POLICY_PACK_NAME } from "./policies";

new PolicyPack(POLICY_PACK_NAME, {
    description:
        "Guardrails for the Databricks notebook-orchestration stack: auto-terminating, tagged clusters; bounded, notifying jobs; Key Vault-backed secrets in RBAC vaults behind a firewall, and no plain-text ones; schedules paused outside production.",
    enforcementLevel: "mandatory",
    policies: createPolicies(memoize(() => engineStackContext())),
});
