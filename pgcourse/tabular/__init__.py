"""The tabular teaching code of notebooks 00–04: finite outcomes, states and actions, exact answers.

importance   exact J(θ) and ∇J(θ) for a softmax P_θ, its estimators' per-outcome terms (01)
policies     tabular and linear softmax policies and their score functions (02)
mdp          tabular MDPs: exact J and ∇J (DP + autograd), sampling, enumeration, optimal values
estimators   ln ρ_θ(τ), its score, the REINFORCE estimator (03)
returns      reward-to-go and discounted reward-to-go (04; notebook 05 reuses it)
variance     per-trajectory terms, the reward-to-go lemma's terms, baselines (04)
moments      exact mean and covariance of an estimator by enumerating its samples (01, 03, 04)
value_based  Baird's counterexample: off-policy TD(0) with linear features (00)
validation   the input checks they share: θ, integer indices and counts, the simplex
plots        notebook 01's plots (P_θ and f, P_θ moving, variance vs KL, 1/√N; reused in 03)

Import each module by its path (`from pgcourse.tabular.mdp import TabularMDP`): this file
re-exports nothing, so importing one module never imports the others or matplotlib.
"""
