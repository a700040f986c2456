// Secret values as the engine sends them to a provider that accepts secrets:
// `{ <sig>: <secret sig>, value }` anywhere in a property tree.
const sigKey = "4dabf18193072939515e22adb298388d";
const secretSig = "1b47061264138c4ac30d75fd1eb44270";

/** Whether `v` is a wrapped secret. */
export function isSecret(v: unknown): v is { value: unknown } {
    return typeof v === "object" && v !== null && (v as Record<string, unknown>)[sigKey] === secretSig;
}

/** Wrap `value` as a secret. */
export function secret(value: unknown): unknown {
    return { [sigKey]: secretSig, value };
}

/** `v` with every secret wrapper removed (the plain values a provider acts on). */
export function reveal(v: unknown): any {
    if (isSecret(v)) {
        return reveal(v.value);
    }
    if (Array.isArray(v)) {
        return v.map(reveal);
    }
    if (typeof v === "object" && v !== null) {
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, reveal(x)]));
    }
    return v;
}

/** Whether `v` holds a secret anywhere. */
export function holdsSecret(v: unknown): boolean {
    if (isSecret(v)) {
        return true;
    }
    if (Array.isArray(v)) {
        return v.some(holdsSecret);
    }
    if (typeof v === "object" && v !== null) {
        return Object.values(v).some(holdsSecret);
    }
    return false;
}
