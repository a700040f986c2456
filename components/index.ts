export * from "./types";
export { PersistentStack, persistentStackType, resetClaimedNames } from "./persistentStack";
export { ConfigError, validateStackArgs, isDangerousHostPath, dangerousHostPaths } from "./config/schema";
export { planStack, parseSize } from "./plan";
export type { StackPlan, VolumePlan, ContainerPlan, MountPlan, NetworkPlan } from "./plan";
export { labelKeys, managedLabels, defaultNamePrefix } from "./naming";
export type { StackContext } from "./naming";
export { volumeFingerprint, replacementProblem } from "./volumeGuard";
