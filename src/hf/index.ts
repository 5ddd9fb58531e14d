/** Pretrained Hugging Face causal LMs: loading, the policy, LoRA (see docs/pretrained-models.md). */
export { HfCausalLM, readWeights, writeModelFolder, ropeInvFreq, type LinearAdapter, type ForwardOptions } from "./model";
export { readConfig, parseConfig, expectedTensors, type ModelConfig, type Family, type RopeScaling } from "./config";
export { HfTokenizer, type ChatMessage } from "./tokenizer";
export { HfPolicy, type HfPolicyOptions, type PromptFormat, type EncodedPairs } from "./policy";
export { Lora, LORA_DEFAULTS, defaultTargets, linearModules, type LoraOptions } from "./lora";
export { readHeader, readTensor, readModelHeaders, encodeSafetensors, type TensorInfo, type TensorToWrite, type FloatDtype } from "./safetensors";
export { serveHfModel } from "./serve";
export { generate, sequenceLogProbs, type Generated, type GenerateOptions, type TokenChoice } from "./generate";
export { HF_STRING_FLAGS, HF_BOOLEAN_FLAGS, hfPolicyOptions, loadHfPolicy, saveHfPolicy } from "./cli";
export { writeFixtureModel, type FixtureOptions, type FixtureKind } from "./fixture";
