"""The language-model lab of notebook 06: REINFORCE and RLOO on a tiny summarizer, on a CPU.

data (posts, references) -> judge (hidden gold score) -> model + sft -> reward_model -> rl -> evaluate;
`lab.run_lab` runs the whole pipeline.
"""
