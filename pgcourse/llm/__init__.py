"""The language-model lab of notebook 06: RLHF for a tiny summarizer, on a CPU.

data (posts, flawed references) -> judge (the hidden gold score) -> model + sft -> preferences ->
reward_model -> rl (REINFORCE, RLOO) -> evaluate; the rest of the lecture's table: dpo, ppo, rebel
(rollout: the sampling and logging they share); overoptimization (proxy vs gold score against KL);
hf (the same RL code on a `transformers` model).
`lab.run_lab` runs the whole pipeline.
"""
