// Runs a Pulumi program the way the nodejs language host does (`require` of its
// main inside runInPulumiStack) under the program's own @pulumi/pulumi runtime
// mocks, and prints every resource registration as JSON on stdout:
//   node runProgram.js <program dir> <entry file> '<config JSON>'
// A stand-in for `pulumi preview` until the package tests move to the real CLI.
"use strict";
const path = require("path");

async function main() {
    const [dir, entry, configJson] = process.argv.slice(2);
    process.chdir(dir);
    const pulumi = require(require.resolve("@pulumi/pulumi", { paths: [dir] }));
    const project = /^name:\s*(\S+)/m.exec(require("fs").readFileSync(path.join(dir, "Pulumi.yaml"), "utf8"))[1];
    const registered = [];
    await pulumi.runtime.setMocks(
        {
            newResource(args) {
                registered.push({ type: args.type, name: args.name, provider: args.provider, inputs: args.inputs });
                const state = args.type === "command:local:Command" ? { ...args.inputs, stdout: "", stderr: "" } : args.inputs;
                return { id: `${args.name}-id`, state };
            },
            call(args) {
                return args.inputs;
            },
        },
        project,
        "test",
        false,
    );
    pulumi.runtime.setAllConfig(JSON.parse(configJson || "{}"), []);
    const main = path.resolve(dir, entry);
    const outputs = await pulumi.runtime.runInPulumiStack(async () => require(main));
    const resolved = await new Promise((resolve) => pulumi.output(outputs).apply((o) => resolve(o)));
    // Registrations chain on one another's outputs; wait until no new ones appear.
    let seen = -1;
    while (seen !== registered.length) {
        seen = registered.length;
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
    process.stdout.write(JSON.stringify({ resources: registered, outputs: resolved }));
}

main().catch((e) => {
    console.error(e && e.stack ? e.stack : e);
    process.exit(1);
});
