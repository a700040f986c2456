// The library as a user's program gets it: packed with `npm pack` (which runs
// the build), installed from the tarball into a fresh consumer project, with
// the programs under examples/ copied beneath it. Shared by the package tests
// and by any test that deploys an example for real.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { repoRoot } from "./stacks";

/** Run a command; a failure's message carries its output. */
export function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
    try {
        return execFileSync(cmd, args, { cwd, env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 * 1024 * 1024 });
    } catch (e) {
        const err = e as { stdout?: string; stderr?: string; message: string };
        throw new Error(`${cmd} ${args.join(" ")} (in ${cwd}) failed: ${err.message}\n${err.stdout ?? ""}${err.stderr ?? ""}`, {
            cause: e,
        });
    }
}

/** A packed library: the tarball and the paths it holds. */
export interface PackedLibrary {
    tarball: string;
    files: string[];
}

/** `npm pack` of the repository into `dest` (runs `prepare`, i.e. the build). */
export function packLibrary(dest: string): PackedLibrary {
    const out = run("npm", ["pack", "--json", "--pack-destination", dest], repoRoot);
    // Output of the build may come first; the JSON report starts on a line of its own.
    const [info] = JSON.parse(out.slice(out.search(/^\[$/m)));
    return { tarball: path.join(dest, info.filename), files: info.files.map((f: { path: string }) => f.path) };
}

/** The example programs under examples/. */
export const examples = ["two-engines", "javascript"] as const;

/**
 * A consumer project at `dir` with the dependencies of every example, the
 * library installed from `tarball` (a copy, not a link), and each example
 * copied to `<dir>/<example>`. Returns `dir`.
 */
export function installExamples(dir: string, tarball: string): string {
    fs.mkdirSync(dir, { recursive: true });
    const manifests = examples.map((e) => JSON.parse(fs.readFileSync(path.join(repoRoot, "examples", e, "package.json"), "utf8")));
    const dependencies = Object.assign({}, ...manifests.map((p) => ({ ...p.dependencies, ...p.devDependencies })));
    dependencies["@persistent-docker/stack"] = `file:${tarball}`;
    fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "consumer", private: true, dependencies }, null, 2));
    run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts"], dir);
    for (const example of examples) {
        fs.cpSync(path.join(repoRoot, "examples", example), path.join(dir, example), {
            recursive: true,
            filter: (src) => !/[/\\](node_modules|bin)$/.test(src),
        });
    }
    return dir;
}

/** Compile the TypeScript program in `dir` with the consumer's own typescript (its tsconfig; `--noEmit` to only check). */
export function compileProgram(consumer: string, dir: string, extra: string[] = []): void {
    run(process.execPath, [path.join(consumer, "node_modules/typescript/bin/tsc"), "-p", dir, ...extra], dir);
}

/** A registration as test/package/runProgram.js prints it. */
export interface Registered {
    type: string;
    name: string;
    /** Provider reference (`<urn>::<id>`) when the resource has an explicit provider. */
    provider?: string;
    inputs: Record<string, any>;
}

/** Run the program in `dir` (its `entry` file) under its own @pulumi/pulumi's mocks, with `config` keyed `namespace:key`. */
export function runUnderMocks(dir: string, entry: string, config: Record<string, string>): { resources: Registered[]; outputs: any } {
    const runner = path.join(repoRoot, "test/package/runProgram.js");
    return JSON.parse(run(process.execPath, [runner, dir, entry, JSON.stringify(config)], dir));
}
