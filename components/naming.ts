// Docker names and labels of everything a stack manages. Names are
// deterministic so a re-provisioned stack re-attaches to the same volumes;
// labels let tools and tests find exactly what one stack owns.

/** Where a stack lives: its Pulumi project and stack, and the component's name. */
export interface StackContext {
    project: string;
    stack: string;
    /** The PersistentStack's logical name. */
    component: string;
}

/** What kind of object a label set is for. */
export type ManagedKind = "volume" | "container" | "network" | "backup";

/** Label keys every managed object carries. */
export const labelKeys = {
    project: "pds.project",
    stack: "pds.stack",
    component: "pds.component",
    kind: "pds.kind",
    key: "pds.key",
} as const;

/** Default prefix of Docker names: `<project>-<stack>`. */
export function defaultNamePrefix(ctx: StackContext): string {
    return `${ctx.project}-${ctx.stack}`;
}

/** Docker name of a stack object: `<prefix>-<key>`. */
export function dockerName(prefix: string, key: string): string {
    return `${prefix}-${key}`;
}

/** The labels that mark an object as owned by this stack, plus extra labels. */
export function managedLabels(
    ctx: StackContext,
    kind: ManagedKind,
    key: string,
    ...extra: Array<Record<string, string> | undefined>
): Record<string, string> {
    return Object.assign({}, ...extra, {
        [labelKeys.project]: ctx.project,
        [labelKeys.stack]: ctx.stack,
        [labelKeys.component]: ctx.component,
        [labelKeys.kind]: kind,
        [labelKeys.key]: key,
    });
}

/** A label map in the docker provider's `[{label, value}]` form, sorted for stable diffs. */
export function labelList(labels: Record<string, string>): Array<{ label: string; value: string }> {
    return Object.keys(labels)
        .sort()
        .map((label) => ({ label, value: labels[label] }));
}
