"""Synthetic TL;DR posts whose tokens are whole phrases, and flawed "human" reference summaries.

A post is a shuffled set of 7-14 phrase tokens: 1-4 *key facts* (what a summary should keep)
among *filler details* (what it should drop). Each token prints as a short phrase, so a post reads
like a Reddit post (SUBREDDIT / TITLE / POST) while the model sees ~10 tokens from a vocabulary of
~110. The references imitate the systematic flaws of human TL;DRs (lead bias, copying the opener),
which is what leaves room for RL to beat them (see docs/notes: with unbiased references the SFT
model is already near-optimal).

References: Stiennon et al. 2020 (TL;DR task); Huang et al. 2024 ("N+ implementation details").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

# ----------------------------------------------------------------------------- vocabulary
PAD, BOS, SEP, EOS = 0, 1, 2, 3
STRUCTURE = {PAD: "<pad>", BOS: "<bos>", SEP: "TL;DR:", EOS: "<end>"}

# subreddit -> (titles, key facts, topic fillers)
TOPICS: dict[str, tuple[list[str], list[str], list[str]]] = {
    "r/dogs": (
        ["[HELP] Not sure how to deal with my big ole pup", "Dog owners, what would you do?"],
        ["we adopted a second dog", "my dog bit a neighbour's kid", "the vet found a tumour",
         "my dog won't stop barking at night", "my pup is scared of other dogs",
         "I'm moving to a flat that bans dogs", "my dog ate chocolate yesterday",
         "the shelter wants the puppy back"],
        ["he is a three year old lab mix", "his name is Romulus", "we walk him twice a day",
         "he loves tennis balls", "I got him from a rescue", "he sleeps on my bed",
         "my cat tolerates him", "he is mostly house trained"],
    ),
    "r/relationships": (
        ["Me [27F] with my boyfriend [29M] of 3 years", "Not sure if I'm overreacting"],
        ["my partner read my messages", "she wants to move abroad", "he forgot my birthday again",
         "we are engaged but fight daily", "my best friend is dating my ex",
         "my partner hides money from me", "his mother moved in with us",
         "I found out she was cheating"],
        ["we met in college", "we have a cat together", "we both work from home",
         "our anniversary is next month", "her family is really nice", "we live in a small town",
         "he plays guitar in a band", "we share a car"],
    ),
    "r/personalfinance": (
        ["Need advice on money, feeling lost", "Is this a dumb financial decision?"],
        ["my landlord raised the rent", "I have 20k in credit card debt", "I just lost my job",
         "my employer stopped the 401k match", "I inherited 50k from my aunt",
         "my car needs a new transmission", "I owe the IRS back taxes",
         "my bank froze my account"],
        ["I'm 24 and live alone", "I use a budgeting app", "I drive a 2012 civic",
         "I cook most of my meals", "my credit score is okay", "I bank with a credit union",
         "I get paid every two weeks", "I have a roommate"],
    ),
    "r/legaladvice": (
        ["[CA] Not sure if this is legal", "What are my options here?"],
        ["my boss hasn't paid me in a month", "the landlord kept my deposit",
         "a driver hit my parked car", "my neighbour built a fence on my land",
         "I got a jury summons during my exams", "my roommate stopped paying rent",
         "a company is using my photos", "I was fired after reporting safety issues"],
        ["I live in california", "I have emails about it", "this started in march",
         "I rent a one bedroom apartment", "I work at a restaurant", "I have never been to court",
         "my lease ends in june", "I asked a friend who is a paralegal"],
    ),
    "r/cscareerquestions": (
        ["Feeling stuck, need career advice", "Is it normal for a new grad to feel this way?"],
        ["I got two job offers", "my team is being laid off", "I failed my final interview",
         "my manager takes credit for my work", "I was asked to relocate",
         "my offer was rescinded", "I'm on a performance plan", "I want to switch to ML"],
        ["I graduated last year", "I mostly write python", "I work remotely",
         "I use a mechanical keyboard", "my commute is long", "I do leetcode on weekends",
         "our stack is java", "I'm on a team of five"],
    ),
    "r/AskDocs": (
        ["[27M] Worried about this, should I see a doctor?", "Is this something serious?"],
        ["I've had chest pain for a week", "my blood test showed low iron",
         "I fainted at work", "my mole changed colour", "I can't sleep more than 3 hours",
         "my vision went blurry suddenly", "I was prescribed antibiotics twice",
         "my knee swells after running"],
        ["I'm 5'10 and 160 lbs", "I don't smoke", "I drink coffee every morning",
         "I run three times a week", "I take a multivitamin", "I had covid last year",
         "I work night shifts", "my dad has high blood pressure"],
    ),
}
GENERIC_FILLER = [
    "this is a throwaway account", "sorry for formatting, I'm on mobile", "long time lurker",
    "english is not my first language", "bear with me, this is long", "first post here",
    "I didn't know where else to post", "thanks in advance for reading",
]

SUBREDDITS = list(TOPICS)
PHRASES: list[str] = [STRUCTURE[i] for i in range(4)]
IS_FACT: list[bool] = [False] * 4
TOPIC_FACTS: list[list[int]] = []
TOPIC_FILLER: list[list[int]] = []
for _name, (_titles, _facts, _fill) in TOPICS.items():
    TOPIC_FACTS.append(list(range(len(PHRASES), len(PHRASES) + len(_facts))))
    PHRASES += _facts
    IS_FACT += [True] * len(_facts)
    TOPIC_FILLER.append(list(range(len(PHRASES), len(PHRASES) + len(_fill))))
    PHRASES += _fill
    IS_FACT += [False] * len(_fill)
_GENERIC = list(range(len(PHRASES), len(PHRASES) + len(GENERIC_FILLER)))
PHRASES += GENERIC_FILLER
IS_FACT += [False] * len(GENERIC_FILLER)
TOPIC_FILLER = [f + _GENERIC for f in TOPIC_FILLER]
VOCAB_SIZE = len(PHRASES)  # V = 108
CONTENT_TOKENS = list(range(4, VOCAB_SIZE))


@dataclass(frozen=True)
class DataConfig:
    min_len: int = 7  # fewest tokens in a post
    max_len: int = 14  # most tokens in a post; prompts are left-padded to max_len + 2
    min_facts: int = 1  # fewest key facts in a post
    max_facts: int = 4  # most key facts in a post
    p_early_fact: float = 0.9  # reference keeps a key fact from the first half of the post
    p_late_fact: float = 0.35  # ... and from the second half (lead bias)
    p_opener: float = 0.6  # reference copies the post's first token even when it is filler
    p_filler: float = 0.03  # reference keeps any other filler detail
    max_summary: int = 8  # response cap in tokens, end token included

    @property
    def prompt_len(self) -> int:
        return self.max_len + 2  # <bos> post TL;DR:


@dataclass(frozen=True)
class Post:
    """One post: its subreddit index, its tokens in reading order, and which of them are key facts."""

    topic: int
    tokens: tuple[int, ...]
    facts: frozenset[int]


def sample_post(rng: np.random.Generator, cfg: DataConfig = DataConfig()) -> Post:
    """Draw one post: a topic, 1-4 of its key facts and enough distinct filler, shuffled."""
    topic = int(rng.integers(len(SUBREDDITS)))
    n = int(rng.integers(cfg.min_len, cfg.max_len + 1))
    k = int(rng.integers(cfg.min_facts, cfg.max_facts + 1))
    facts = rng.choice(TOPIC_FACTS[topic], size=k, replace=False)
    filler = rng.choice(TOPIC_FILLER[topic], size=n - k, replace=False)
    tokens = np.concatenate([facts, filler])
    rng.shuffle(tokens)
    return Post(topic, tuple(int(t) for t in tokens), frozenset(int(f) for f in facts))


def reference_summary(post: Post, rng: np.random.Generator,
                      cfg: DataConfig = DataConfig()) -> tuple[int, ...]:
    """A flawed 'human' TL;DR: kept tokens in post order, then <end>.

    Keeps key fact at position i with p_early_fact if i < n/2 else p_late_fact; keeps the first
    token with p_opener when it is filler, any other filler with p_filler.
    """
    n = len(post.tokens)
    kept = []
    for i, tok in enumerate(post.tokens):
        if tok in post.facts:
            p = cfg.p_early_fact if i < n / 2 else cfg.p_late_fact
        else:
            p = cfg.p_opener if i == 0 else cfg.p_filler
        if rng.random() < p:
            kept.append(tok)
    return tuple(kept[: cfg.max_summary - 1]) + (EOS,)


def ideal_summary(post: Post) -> tuple[int, ...]:
    """Every key fact, in post order, then <end>: the gold judge's best summary."""
    return tuple(t for t in post.tokens if t in post.facts) + (EOS,)


def make_dataset(n: int, seed: int, cfg: DataConfig = DataConfig()
                 ) -> tuple[list[Post], list[tuple[int, ...]]]:
    """n posts and one reference summary each, reproducible from `seed`."""
    if n < 1:
        raise ValueError(f"make_dataset needs n >= 1, got {n}")
    rng = np.random.default_rng(seed)
    posts = [sample_post(rng, cfg) for _ in range(n)]
    refs = [reference_summary(p, rng, cfg) for p in posts]
    return posts, refs


# ----------------------------------------------------------------------------- tensors
def encode_prompts(posts: list[Post], cfg: DataConfig = DataConfig()) -> torch.Tensor:
    """Prompts `<bos> post <pad>.. TL;DR:`: the post starts at column 1 and every prompt ends at
    the same column, so a batch of responses starts together.

    Returns (B, prompt_len) int64; the responses are appended after column prompt_len - 1.
    """
    out = torch.full((len(posts), cfg.prompt_len), PAD, dtype=torch.long)
    out[:, 0], out[:, -1] = BOS, SEP
    for b, p in enumerate(posts):
        if len(p.tokens) > cfg.max_len:
            raise ValueError(f"post of {len(p.tokens)} tokens exceeds max_len={cfg.max_len}")
        out[b, 1: 1 + len(p.tokens)] = torch.tensor(p.tokens)
    return out


@dataclass(frozen=True, eq=False)
class PromptSet:
    """Posts encoded once, with the DataConfig they were encoded with: every stage after the data
    (RL, PPO, REBEL, evaluation, over-optimization) reads its prompts and the response cap here, so
    a non-default DataConfig reaches all of them."""

    posts: list[Post]  # the posts, in order
    prompts: torch.Tensor  # (M, cfg.prompt_len) int64, from encode_prompts
    cfg: DataConfig  # the post generator's and the encoder's configuration

    @classmethod
    def encode(cls, posts: list[Post], cfg: DataConfig) -> PromptSet:
        return cls(list(posts), encode_prompts(posts, cfg), cfg)

    def __len__(self) -> int:
        return len(self.posts)

    @property
    def max_summary(self) -> int:
        """R: the response cap in tokens, <end> included."""
        return self.cfg.max_summary

    def responses(self, summaries: list[tuple[int, ...]]) -> torch.Tensor:
        """Summaries -> (len, R) int64 with this set's response cap."""
        return encode_responses(summaries, self.cfg)


def as_prompt_set(data: PromptSet | list[Post]) -> PromptSet:
    """A PromptSet as is; a plain list of posts (the visible checks' tiny runs) encoded with the
    default DataConfig, the only place a stage falls back to it. The lab passes PromptSets."""
    if isinstance(data, PromptSet):
        return data
    return PromptSet.encode(data, DataConfig())


def response_mask(responses: torch.Tensor) -> torch.Tensor:
    """(B, R) response tokens -> (B, R) float mask of positions up to and including the first <end>."""
    is_end = (responses == EOS).long()
    after_end = (torch.cumsum(is_end, dim=1) - is_end) > 0  # strictly after the first <end>
    return (~after_end).float()


def encode_responses(summaries: list[tuple[int, ...]], cfg: DataConfig = DataConfig()
                     ) -> torch.Tensor:
    """Summaries (tuples of tokens) -> (B, max_summary) int64, right-padded with <pad>."""
    out = torch.full((len(summaries), cfg.max_summary), PAD, dtype=torch.long)
    for b, s in enumerate(summaries):
        s = tuple(s)[: cfg.max_summary]
        if s:
            out[b, : len(s)] = torch.tensor(s)
    return out


def decode_responses(responses: torch.Tensor) -> list[tuple[int, ...]]:
    """(B, R) tokens -> summaries cut after the first <end> (kept), padding dropped."""
    out = []
    for row in responses.tolist():
        s = []
        for t in row:
            s.append(t)
            if t == EOS:
                break
        out.append(tuple(s))
    return out


# ----------------------------------------------------------------------------- printing
def _sentence(phrase: str) -> str:
    return phrase[0].upper() + phrase[1:] + "."


def format_post(post: Post) -> str:
    """The post as a reader sees it: SUBREDDIT / TITLE / POST."""
    name = SUBREDDITS[post.topic]
    titles = TOPICS[name][0]
    title = titles[sum(post.tokens) % len(titles)]
    body = " ".join(_sentence(PHRASES[t]) for t in post.tokens)
    return f"SUBREDDIT: {name}\nTITLE: {title}\nPOST: {body}"


def format_summary(summary: tuple[int, ...]) -> str:
    """A summary as text: `TL;DR: phrase; phrase` (marked when it never ends)."""
    words = []
    for t in summary:
        if t == EOS:
            return "TL;DR: " + "; ".join(words)
        words.append(PHRASES[t] if t >= 4 else STRUCTURE[t])
    return "TL;DR: " + "; ".join(words) + " ... [no end]"
