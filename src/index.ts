/**
 * stepagent's public API: what notebooks and users call, grouped by layer. Everything not
 * exported here is internal (CLI presets and flag parsing included).
 */

// ── Core: types, seeded randomness, errors, the inspection hand-off, exact divergences and the theory
export { Rng } from "./core/rng";
export { InputError } from "./core/errors";
export type { Step, Trajectory, StepPair, StateAction, ChatTurn, Policy, EnumerablePolicy, Env, EnvStepResult } from "./core/types";
export { pairsToObjects, stepWeightTable, pairWeightTable, type StepBatch, type StepPairBatch, type Inspection } from "./core/batch";
export { klToExpert, perStateKl, klAtState, centredLogRatio, contractionRatio, logSoftmaxRows } from "./core/kl";
export { contractionFactor, closedFormCycle, theoryPolicy, converges, sampledExcessKl } from "./core/theory";

// ── Backend and optimisers
export {
  initBackend,
  tf,
  BACKENDS,
  describeBackend,
  backendLabel,
  backendJson,
  describeAdapter,
  type AdapterInfo,
  type BackendInfo,
  type BackendName,
} from "./backend";
export { minimiseNewton, type SmoothProblem } from "./optim/newton";
export { minimiseAdam, AdamTrainer, type AdamOptions, type UpdateCount } from "./optim/adam";

// ── Environments
export { TabularMdp, expertVisitation, sampleExpertSteps, sampleExpertTrajectories, expectedReturn, type TabularMdpOptions } from "./envs/tabular";
export {
  TEXT_ENVS,
  textEnv,
  household,
  shop,
  qa,
  recipe,
  splitTasks,
  expertTrajectory,
  type TextEnv,
  type TextEnvFamily,
  type TextTask,
  type ExpertTurn,
  type ExpertChoice,
  expertDistribution,
  type TextEnvName,
} from "./envs/text";

// ── Policies
export { TabularPolicy } from "./policies/tabular";
export type { TextPolicy, TokenDistributions } from "./policies/text_policy";
export { Tokenizer } from "./policies/tokenizer";
export { TransformerPolicy, DEFAULT_TRANSFORMER, type TransformerConfig } from "./policies/transformer";
export { trainSft, nllLoss, expertSteps, policyState, stateAtStep, HISTORY_ACTIONS, type SftOptions } from "./policies/text_sft";
export { saveCheckpoint, loadCheckpoint, CheckpointError, type LoadedCheckpoint } from "./policies/checkpoint";

// ── Methods: one protocol, one registry, one driver per setting
export { METHODS, TEXT_METHODS, isMethodName, type MethodName } from "./methods/registry";
export {
  defineMethod,
  parseConfig,
  checkBeta,
  optimisationSchema,
  type Method,
  type CycleRecord,
  type Optimisation,
  type TextCycleContext,
  type Collected,
} from "./methods/protocol";
export {
  trainText,
  textBudget,
  methodConfig,
  type TextTrainOptions,
  type TextTrainResult,
  type TextWarmStart,
  type RestorablePolicy,
  type TextCycleRecord,
  type CommonConfig,
} from "./methods/text/driver";
export { inspectText, type TextInspection } from "./methods/text/inspect";
export { rollOutText, evaluateText, rollOutBudget, type RollOut, type Evaluation } from "./methods/text/rollout";
export { stepDpoLoss, stepDpoUpdate, stepagentImplicitConfig, stepagentImplicitTabularConfig } from "./methods/stepagent_implicit";
export {
  StepDiscriminator,
  stepFeatures,
  stepAdvantages,
  ppoUpdate,
  stepagentInverseConfig,
  stepagentInverseTabularConfig,
  type StepAdvantages,
} from "./methods/stepagent_inverse";
export { ridgeFit, crossFitRidge, stateFeatures, type RidgeModel } from "./methods/text/features";
export { sftContinuedConfig, sftTabularConfig } from "./methods/sft";
export { rftConfig } from "./methods/rft";
export { ppoOutcomeConfig, ppoOutcomeTabularConfig, outcomeAdvantages } from "./methods/ppo_outcome";
export { etoConfig, trajectoryDpoUpdate } from "./methods/eto";
export { iprConfig } from "./methods/ipr";
// Tabular setting: exact and sampled StepAgent cycles, and the tabular baselines
export {
  inspectSteps,
  inspectSampled,
  inspectExact,
  inspectTabular,
  defaultEpisodes,
  binaryStepReward,
  type StepRewardFn,
  type InspectOptions,
} from "./methods/tabular/inspect";
export { reflectImplicit, type ImplicitOptions, type ReflectionResult, type ReflectionDiagnostics, type Solver } from "./methods/tabular/implicit";
export { reflectInverse, trainDiscriminator, type InverseOptions, type TabularReward } from "./methods/tabular/inverse";
export {
  makeConvergenceTask,
  runTabular,
  runStepAgent,
  type ConvergenceTask,
  type ConvergenceTaskOptions,
  type TabularRunOptions,
  type TabularRun,
  type TabularCycleRecord,
  type TabularMetrics,
  type StepAgentOptions,
  type StepAgentCycleRecord,
  type ConvergenceRun,
  type Reflection,
  type Mode,
} from "./methods/tabular/cycle";
// Inspection through an OpenAI-compatible server
export {
  inspectWithServer,
  streamInspection,
  inspectionSeed,
  proposalTurn,
  newInspectionCounts,
  type ServerInspectionOptions,
  type InspectionCounts,
} from "./methods/text/inspect_http";

// ── Data: trajectory formats, files, ReAct turns, statistics, exports for other trainers
export {
  DataError,
  FORMATS,
  recordToTrajectory,
  trajectoryToRecord,
  chatToTrajectory,
  trajectoryToChat,
  parseReActTranscripts,
  trajectoryToReAct,
  detectRecordFormat,
  type Format,
  type TextTrajectory,
} from "./data/formats";
export { readTrajectories, readAll, writeTrajectories, newReport, type ReadOptions, type ReadReport } from "./data/io";
export { parseReActTurn, formatReActTurn, actionVerb, normaliseAction, detectInstruction, type ReActTurn } from "./data/react";
export { trajectoryStats, type TrajectoryStats } from "./data/stats";
export { stepPrompts, exportRows, parseInspectionRecord, EXPORTS, type ExportFormat, type InspectionRecord } from "./data/export";

// ── HTTP bridges: a policy behind an OpenAI-compatible server, environments behind AgentGym's protocol
export {
  OpenAIPolicy,
  HttpPolicyError,
  PROMPT_CONVENTION,
  requestSeed,
  defaultExtractAction,
  type AsyncTextPolicy,
  type HttpPolicyConfig,
  type SampleOptions,
} from "./policies/http";
export { servePolicy, type ServeOptions, type PolicyServer } from "./policies/serve";
export { EnvServer, type EnvServerOptions } from "./envs/server";
export {
  EnvServerClient,
  RemoteTextEnv,
  EnvServerError,
  EnvClientUsageError,
  CollectError,
  FLAVOURS,
  flavour,
  collectEpisodes,
  collectToFile,
  localExpertPolicy,
  randomPolicy,
  type ServerFlavour,
  type FlavourName,
  type ClientOptions,
  type EnvId,
  type EpisodeState,
  type RemotePolicy,
  type CollectOptions,
  type PartialEpisode,
  type ServerInfo,
  type StepAnswer,
  type ResetAnswer,
} from "./envs/remote";

// ── Analysis, plots, reports, notebooks
export { runStudy, studyToJson, samplingBand, meanContraction, type StudyOptions, type StudyResult } from "./analysis/study";
export { meanCi95, tQuantile975, type MeanCi } from "./analysis/intervals";
export { pairedTTest, holmAdjust, correctedPairedTests, type PairedTest, type CorrectedTest } from "./analysis/multiple";
export { splitOverlap, type SplitOverlap } from "./analysis/overlap";
export { klAtExpertStates, distanceAtAgentStates, expertEntropy, type StateDistance, type AgentStateDistance } from "./analysis/agent_states";
export {
  klRows,
  klVsCycleSpec,
  actionRows,
  actionDistributionSpec,
  methodComparisonSpec,
  type VegaLiteSpec,
  type KlRow,
  type ActionRow,
  type MethodRow,
} from "./viz/specs";
export { renderSvg, svgToPng } from "./viz/render";
export { fixed, sci } from "./viz/format";
export { writeConvergenceReport, contractionTable, contractionFormat } from "./report/convergence";
export { showChart, showTable, showMarkdown, LiveKlPlot, type NotebookDisplay } from "./notebook/display";
export { reportNotebook, installKernel, KERNEL_NAME } from "./notebook/report";
export * from "./hf";
