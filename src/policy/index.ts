/**
 * src/policy: what -sandbox means. The grammar (QEMU's, plus our keys), the
 * QEMU command line around it, the site config, and the groups of filters/
 * resolved to rules for one ABI. May import src/arch and src/bpf only.
 */
export type {
  ActiveRule,
  AllowedNote,
  ArgCondition,
  GroupDefinition,
  GroupName,
  GroupRule,
  ResolvedAction,
  RuleAction,
  RuleCondition,
  SandboxPolicy,
} from './types';
export { CONDITION_OPS, GROUP_NAMES } from './types';
export type { ConditionOp } from './types';
export { comparedValue, conditionHolds, maskedMismatch } from './condition';
export {
  DEFAULT_POLICY,
  DEFAULT_POLICY_STRING,
  DISABLED_POLICY,
  SANDBOX_KEYS,
  POLICY_FIELDS,
  SandboxOptionError,
  buildPolicy,
  checkConfigString,
  parsePolicy,
  policyValue,
  parseSandboxOption,
  policyToString,
  resolveSandboxPolicy,
  sandboxHelpText,
  splitQemuOpts,
} from './sandbox-option';
export type {
  ParsedSandboxOption,
  PolicySource,
  RawOptItem,
  ResolveOptions,
  ResolvedSandbox,
  SandboxKey,
  SandboxOptionItem,
} from './sandbox-option';
export {
  QEMU_OPTIONS_WITHOUT_ARG,
  QEMU_OPTIONS_WITH_ARG,
  extractSandbox,
  isKnownQemuOption,
  parseKeyValueList,
  parseQemuArgs,
  takesArgument,
  vmNameOf,
} from './qemu-args';
export type { ExtractedSandbox, KeyValue, QemuArg } from './qemu-args';
export { everyCompiledPolicy } from './combinations';
export {
  CONFIG_ENV,
  ConfigError,
  DEFAULT_CONFIG_PATH,
  MAX_CONFIG_BYTES,
  loadConfig,
  readConfigFile,
  validateConfig,
  vmOrigin,
} from './config';
export {
  BUILT_IN_DEFAULT,
  STRICTNESS,
  applyMinimum,
  keyOrigins,
  parseMinimum,
  tighteningWords,
} from './minimum';
export type { SandboxMinimum, Tightening } from './minimum';
export { configOrigin, resolveLaunchPolicy, tighteningWarning, vmPolicyOf } from './site-policy';
export type { LaunchPolicy, LaunchPolicyInput } from './site-policy';
export type { SiteConfig } from './config';
export { GroupValidationError, readGroupsDir, validateGroupFile, validateGroupSet } from './groups';
export {
  GROUP_SWITCHES,
  activeRules,
  defaultFiltersDir,
  enabledGroups,
  getGroup,
  groupOf,
  killClassAction,
  loadGroups,
  packageRoot,
  policyChangeToAllow,
  resolveCondition,
  ruleOf,
} from './rules';
export type { GroupSwitch } from './rules';
export {
  ADDRESS_FAMILIES,
  CLONE_FLAGS,
  CONSTANTS,
  IOCTL_REQUESTS,
  SCHED_POLICIES,
  SECCOMP_FLAGS,
  cloneFlagNames,
  constantNames,
  resolveConstant,
} from './constants';
