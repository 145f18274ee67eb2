"""The language-model lab of notebook 06: RLHF for a tiny summarizer, on a CPU.

data (posts, flawed references, PromptSet: the posts encoded once) -> judge (the hidden gold score)
-> model (GPT, the LMPolicy protocol, sampling, log-probs, the scalar head of the reward model and
of PPO's value model) + sft -> preferences -> reward_model -> rollout (the one sampling/scoring
step) -> rl (REINFORCE, RLOO) -> evaluate; the rest of the lecture's table: dpo, ppo, rebel;
overoptimization (proxy vs gold score against KL); plots; optim (the one optimiser step of every
trainer); hf (the same RL code on a `transformers` model). Bars: `pgcourse.notebook.progress`.
`lab.run_lab` runs the whole pipeline.
"""
