// The Pulumi toolchain the engine tests run: the CLI and language host from
// .ci/pulumi.sh (built from Go modules, or a compatible installed CLI), the
// dynamic-provider launcher, and the test-only provider stand-ins
// (test/provider/bin). PDS_DOCKER_PROVIDER=real / PDS_COMMAND_PROVIDER=real
// run the same suites against real plugins installed in Pulumi's plugin cache
// (`pulumi plugin install resource docker ...`) instead of the stand-ins.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { repoRoot } from "./stacks";

/** The stand-in plugins that are in use, by plugin name. */
export const standIns = (["docker", "command"] as const).filter((p) => process.env[`PDS_${p.toUpperCase()}_PROVIDER`] !== "real");

let cached: { path: string } | { missing: string } | undefined;

/**
 * The PATH under which `pulumi` runs with this project's toolchain, or why
 * there is none (the toolchain is not built: run `bash .ci/pulumi.sh`).
 */
export function toolchainPath(): { path: string } | { missing: string } {
    if (cached) {
        return cached;
    }
    let bins: string;
    try {
        bins = execFileSync("bash", [path.join(repoRoot, ".ci/pulumi.sh"), "--path"], {
            encoding: "utf8",
            stdio: ["ignore", "pipe", "pipe"],
        }).trim();
    } catch (e) {
        const stderr = String((e as { stderr?: unknown }).stderr ?? e).trim();
        return (cached = { missing: `the Pulumi toolchain is not built (${stderr}); run: bash .ci/pulumi.sh` });
    }
    // Only the stand-ins in use go on PATH (ambient plugins win over the plugin cache).
    const standInDir = fs.mkdtempSync(path.join(os.tmpdir(), "pds-standins-"));
    for (const p of standIns) {
        fs.symlinkSync(path.join(repoRoot, "test/provider/bin", `pulumi-resource-${p}`), path.join(standInDir, `pulumi-resource-${p}`));
    }
    return (cached = { path: [standInDir, bins, process.env.PATH].join(path.delimiter) });
}

/**
 * Fail (under CI=true) or skip the suite with one loud line when the toolchain
 * is missing; otherwise put it first on this process's PATH (the Automation
 * API runs `pulumi` from there).
 */
export function requireToolchain(ctx: Mocha.Context): void {
    const tc = toolchainPath();
    if ("path" in tc) {
        process.env.PATH = tc.path;
        return;
    }
    const title = ctx.test?.parent?.fullTitle() || "engine suite";
    if (process.env.CI === "true") {
        throw new Error(`the Pulumi toolchain is required in CI for "${title}": ${tc.missing}`);
    }
    console.warn(`\n!!!!! SKIPPING "${title}": ${tc.missing}`);
    ctx.skip();
}
