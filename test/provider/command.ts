// TEST-ONLY stand-in for the @pulumi/command provider plugin (pulumi-resource-command).
//
// WHY: the real plugin (Go module github.com/pulumi/pulumi-command/provider,
// release v1.2.1) is refused by the Go module proxy this project's machines
// reach (see .ci/pulumi.sh). It is served here as an ambient plugin
// (test/provider/bin/pulumi-resource-command on PATH) and never ships.
//
// WHAT IT MODELS (command:local:Command of pulumi-command 1.x, as documented
// and as the component uses it):
// - create runs `create` with `/bin/sh -c` (or `interpreter`) in `dir` (default:
//   the engine's working directory), with the plugin's environment plus
//   `environment`, `stdin` on standard input; a non-zero exit fails the step
//   with the command's output in the error, and nothing is recorded.
// - outputs: the inputs, plus `stdout` and `stderr` with one trailing newline
//   removed. Inputs that arrived secret stay secret; stdout/stderr are secret
//   when any input was.
// - diff: a change of `triggers` replaces; any other input change is an update,
//   which runs `update` (or `create` when there is no `update`) with
//   PULUMI_COMMAND_STDOUT/STDERR of the previous run when
//   `addPreviousOutputInEnv` (default true).
// - delete runs `delete`, if any, with PULUMI_COMMAND_STDOUT/STDERR; a failure
//   fails the delete.
// - preview runs nothing (the engine does not call create/update in preview).
// WHAT IT DOES NOT: remote:* resources, `logging` modes (output is not streamed
// to the engine while a command runs), assetPaths/archivePaths, the
// `run` invoke, `copyToRemote`.
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import * as provider from "@pulumi/pulumi/provider";
import { version } from "@pulumi/command/package.json";
import { holdsSecret, reveal, secret } from "./secrets";

interface Run {
    stdout: string;
    stderr: string;
}

function runCommand(cmd: string, inputs: any, extraEnv: Record<string, string>): Promise<Run> {
    const interpreter: string[] = inputs.interpreter?.length ? inputs.interpreter : ["/bin/sh", "-c"];
    const env = { ...process.env, ...(inputs.environment ?? {}), ...extraEnv };
    return new Promise((resolve, reject) => {
        const child = spawn(interpreter[0], [...interpreter.slice(1), cmd], {
            cwd: inputs.dir || process.cwd(),
            env,
            stdio: ["pipe", "pipe", "pipe"],
        });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout.on("data", (d) => out.push(d));
        child.stderr.on("data", (d) => err.push(d));
        child.on("error", reject);
        child.on("close", (code, signal) => {
            const stdout = Buffer.concat(out).toString().replace(/\n$/, "");
            const stderr = Buffer.concat(err).toString().replace(/\n$/, "");
            if (code === 0) {
                resolve({ stdout, stderr });
            } else {
                reject(
                    new Error(
                        `${signal ? `signal ${signal}` : `exit status ${code}`}: running ${JSON.stringify(cmd)}:\nStdout:\n${stdout}\nStderr:\n${stderr}`,
                    ),
                );
            }
        });
        child.stdin.end(inputs.stdin ?? "");
    });
}

function outputs(raw: any, run: Run): any {
    const wrap = holdsSecret(raw) ? secret : (v: unknown) => v;
    return { ...raw, stdout: wrap(run.stdout), stderr: wrap(run.stderr) };
}

function previousEnv(olds: any): Record<string, string> {
    if (olds.addPreviousOutputInEnv === false) {
        return {};
    }
    const plain = reveal(olds);
    return { PULUMI_COMMAND_STDOUT: plain.stdout ?? "", PULUMI_COMMAND_STDERR: plain.stderr ?? "" };
}

const inputKeys = [
    "create",
    "update",
    "delete",
    "dir",
    "environment",
    "interpreter",
    "stdin",
    "triggers",
    "addPreviousOutputInEnv",
    "logging",
];

function sameJson(a: unknown, b: unknown): boolean {
    return JSON.stringify(reveal(a) ?? null) === JSON.stringify(reveal(b) ?? null);
}

const commandProvider: provider.Provider = {
    version,
    async check(_urn, _olds, news) {
        return { inputs: news };
    },
    async diff(_id, _urn, olds, news) {
        const changed = inputKeys.filter((k) => !sameJson(olds[k], news[k]));
        return {
            changes: changed.length > 0,
            replaces: changed.filter((k) => k === "triggers"),
            deleteBeforeReplace: false,
        };
    },
    async create(_urn, inputs) {
        const plain = reveal(inputs);
        const run = plain.create ? await runCommand(plain.create, plain, {}) : { stdout: "", stderr: "" };
        return { id: randomUUID(), outs: outputs(inputs, run) };
    },
    async update(_id, _urn, olds, news) {
        const plain = reveal(news);
        const cmd = plain.update ?? plain.create;
        const run = cmd ? await runCommand(cmd, plain, previousEnv(olds)) : { stdout: "", stderr: "" };
        return { outs: outputs(news, run) };
    },
    async delete(_id, _urn, props) {
        const plain = reveal(props);
        if (plain.delete) {
            await runCommand(plain.delete, plain, previousEnv(props));
        }
    },
    async read(id, _urn, props) {
        return { id, props };
    },
};

void pulumi; // the SDK must be loaded before provider.main for its runtime settings
provider.main(commandProvider, process.argv.slice(2)).catch((e) => {
    console.error(e);
    process.exit(1);
});
