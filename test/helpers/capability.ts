// What a test does when the machine lacks something it needs (root, a mount,
// a binary): under CI=true the test fails loudly, since CI must run every
// test; elsewhere it is skipped with one loud line saying what is missing.

/**
 * Use inside a mocha test or hook (`function () { ... }`, not an arrow):
 *
 *     const m = spawnSync("mount", [...]);
 *     if (m.status !== 0) missingCapability(this, `mount a tmpfs (needs root with CAP_SYS_ADMIN): ${m.stderr}`);
 *
 * Never returns.
 */
export function missingCapability(ctx: Mocha.Context, what: string): never {
    const title = ctx.test?.fullTitle() ?? "test";
    if (process.env.CI === "true") {
        throw new Error(`CI must run "${title}", but this machine cannot ${what}`);
    }
    console.warn(`\n!!!!! SKIPPING "${title}": this machine cannot ${what}`);
    ctx.skip();
    throw new Error("unreachable: ctx.skip() throws");
}
