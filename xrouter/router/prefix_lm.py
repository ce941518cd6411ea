"""The tiny_encoder router's model: a causal LM whose prompt starts with soft-prefix vectors made from a condition.

``PrefixQwen2ForCausalLM`` is a Qwen2 causal LM with one extra module, the ``projector``: an MLP from a
condition vector (the frozen sentence encoder's query embedding, plus the cost weight lambda's features;
``xrouter/router/conditioning.py``) to ``prefix_tokens`` vectors of the LM's width.  The router's prompt
holds ``prefix_tokens`` placeholder tokens (``PREFIX_TOKEN``); ``forward(..., conditions=[B, D])`` puts
the projected vectors in place of their embeddings, so positions, masks, KV caches, ``generate`` and the
log-prob code of every other router work unchanged; a second projection of the condition is added to
every token's embedding (decoding steps and a shared prompt's continuations too), so every forward
of a prefix router takes ``conditions``.  With ``decision_token_ids`` in its config it also has a
routing head (``xrouter/router/decision_head.py``) whose logits over the pool are added to the
``call_<model>`` tokens where the call's name is written.  ``save_pretrained`` / ``from_pretrained`` keep
the projector, the head and the condition layout in ``config.json``.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from xrouter.router.decision_head import DecisionHead, add_decision_logits

PREFIX_TOKEN = "<|query_prefix|>"
ARCHITECTURE = "PrefixQwen2ForCausalLM"
ARCH_VERSION = 5  # part of the untrained-router cache key: bump it when the modules change


class PrefixQwen2ForCausalLM(Qwen2ForCausalLM):
    """Qwen2 LM + a condition projector whose outputs replace the placeholder tokens' embeddings (and, with
    ``config.condition_lm`` false, an LM that does not read the condition: only its routing head does)."""

    def __init__(self, config: Qwen2Config) -> None:
        super().__init__(config)
        for name in ("condition_dim", "prefix_tokens", "prefix_token_id"):
            if getattr(config, name, None) is None:
                raise ValueError(f"a prefix router's config needs '{name}' (it is not a tiny_encoder router directory)")
        hidden = int(getattr(config, "projector_hidden", 256))
        # normalised in and out: a unit-norm sentence embedding has entries ~0.05, and each prefix vector
        # should weigh as much as a token's in the residual stream from the first layer on
        self.projector = torch.nn.Sequential(
            torch.nn.LayerNorm(config.condition_dim),
            torch.nn.Linear(config.condition_dim, hidden),
            torch.nn.GELU(),
            torch.nn.Linear(hidden, config.prefix_tokens * config.hidden_size),
        )
        self.prefix_norm = torch.nn.LayerNorm(config.hidden_size)
        # and the condition added to every token's embedding: a tiny LM trained from scratch learns to
        # attend to a few prefix slots far too slowly under RL (measured: its choice did not depend on
        # the query after a cold start and 60 RL steps); at every position, the choice token reads it
        self.condition_embed = torch.nn.Sequential(
            torch.nn.LayerNorm(config.condition_dim),
            torch.nn.Linear(config.condition_dim, config.hidden_size),
            torch.nn.LayerNorm(config.hidden_size),
        )
        self.condition_gain = torch.nn.Parameter(torch.tensor([0.05]))  # 1-D: FSDP2 shards no scalars
        # the cost weight's features (the condition's last ``lam_features``) also get a path of their own,
        # outside the layer norms where 384 embedding dimensions would dilute two numbers
        self.lam_features = int(getattr(config, "lam_features", 0) or 0)
        self.lam_embed = torch.nn.Linear(self.lam_features, config.hidden_size) if self.lam_features else None
        self.decision_token_ids = list(getattr(config, "decision_token_ids", None) or [])
        self.decision_head = (
            DecisionHead(
                config.condition_dim,
                len(self.decision_token_ids),
                int(getattr(config, "decision_hidden", 256)),
                self.lam_features,
                float(getattr(config, "decision_lam_scale", 3.0)),
            )
            if self.decision_token_ids
            else None
        )
        self.post_init()
        if self.lam_embed is not None:
            torch.nn.init.normal_(self.lam_embed.weight, std=0.05)
        if self.decision_head is not None:
            self.decision_head.reset()

    def prefix_vectors(self, conditions: torch.Tensor) -> torch.Tensor:
        """``[B, D]`` conditions -> ``[B, prefix_tokens, hidden]`` soft-prefix vectors."""
        out = self.projector(conditions.to(self.projector[1].weight.dtype))
        return self.prefix_norm(out.view(conditions.shape[0], self.config.prefix_tokens, self.config.hidden_size))

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        conditions: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        **kwargs: Any,
    ):
        # ``position_ids`` is named so that ``generate`` passes positions from the attention mask, as the
        # training forward does (without it, generate counts left padding as positions)
        token_ids = input_ids
        if input_ids is not None and inputs_embeds is None:
            if conditions is None:
                raise ValueError(
                    "a prefix router is called with conditions=[batch, "
                    f"{self.config.condition_dim}] (xrouter.router.conditioning.QueryConditioner)"
                )
            if conditions.shape != (input_ids.shape[0], self.config.condition_dim):
                raise ValueError(
                    f"conditions has shape {tuple(conditions.shape)}; expected "
                    f"({input_ids.shape[0]}, {self.config.condition_dim})"
                )
            embeds = self.get_input_embeddings()(input_ids)
            conditions = conditions.to(embeds.device, self.projector[1].weight.dtype)
            slots = input_ids == self.config.prefix_token_id
            if not getattr(self.config, "condition_lm", True):  # only the routing head reads the condition
                inputs_embeds, slots = embeds, slots[:, :0]
            elif bool(slots.any()):
                prefix = self.prefix_vectors(conditions)
                # the j-th slot of a row takes that row's j-th prefix vector
                slot_index = (slots.cumsum(-1) - 1).clamp(0, self.config.prefix_tokens - 1)
                placed = torch.gather(prefix, 1, slot_index.unsqueeze(-1).expand(-1, -1, embeds.shape[-1]))
                embeds = torch.where(slots.unsqueeze(-1), placed.to(embeds.dtype), embeds)
            if getattr(self.config, "condition_lm", True):
                everywhere = self.condition_gain * self.condition_embed(conditions)
                if self.lam_embed is not None:
                    everywhere = everywhere + self.lam_embed(conditions[:, -self.lam_features :])
                inputs_embeds = embeds + everywhere.unsqueeze(1).to(embeds.dtype)
            input_ids = None
        output = super().forward(input_ids=input_ids, inputs_embeds=inputs_embeds, position_ids=position_ids, **kwargs)
        if self.decision_head is not None and token_ids is not None and conditions is not None:
            output.logits = add_decision_logits(
                output.logits,
                token_ids,
                self.decision_head(conditions),
                int(self.config.decision_anchor_id),
                self.decision_token_ids,
            )
        return output


def parameter_groups(model, lr: float) -> list[dict[str, Any]]:
    """Optimizer groups: a prefix router's projector learns at ``lr * config.projector_lr_scale`` (the
    per-query signal has to outgrow the LM's shared bias), its routing head at ``lr *
    config.decision_lr_scale``, everything else at ``lr``."""
    if not isinstance(model, PrefixQwen2ForCausalLM):
        return [{"params": list(model.parameters()), "lr": lr}]
    scales = {
        ("projector.", "prefix_norm.", "condition_", "lam_embed."): float(
            getattr(model.config, "projector_lr_scale", 1.0) or 1.0
        ),
        ("decision_head.",): float(getattr(model.config, "decision_lr_scale", 1.0) or 1.0),
    }
    groups, taken = [], set()
    for prefixes, scale in scales.items():
        params = [p for n, p in model.named_parameters() if n.startswith(prefixes)]
        if params and scale != 1.0:
            groups.append({"params": params, "lr": lr * scale})
            taken.update(id(p) for p in params)
    return [{"params": [p for p in model.parameters() if id(p) not in taken], "lr": lr}] + groups


def is_prefix_router_config(config: dict[str, Any]) -> bool:
    """Whether a router directory's ``config.json`` (as a dict) is a prefix router's."""
    return ARCHITECTURE in (config.get("architectures") or []) or config.get("prefix_tokens") is not None


def prefix_router(
    tokenizer,
    arch: dict[str, Any],
    condition_dim: int,
    prefix_tokens: int,
    projector_hidden: int = 256,
    seed: int = 0,
    projector_lr_scale: float = 1.0,
    lam_features: int = 0,
    decision: dict[str, Any] | None = None,
    condition_lm: bool = True,
) -> PrefixQwen2ForCausalLM:
    """A fresh prefix router over ``tokenizer`` (which must hold ``PREFIX_TOKEN``); ``decision``
    (``tokens``: the call tokens in pool order, ``anchor``: the token they follow, ``hidden``,
    ``lam_scale``, ``lr_scale``) gives it a routing head; ``condition_lm=False`` leaves the LM itself blind to the
    condition (its prompt's prefix slots keep their token embedding): only the head reads it."""
    if not condition_lm and not decision:
        raise ValueError("router.condition_lm=false leaves nothing that reads the query: it needs router.decision_head")
    from xrouter.router.chat_format import IM_END

    prefix_id = tokenizer.convert_tokens_to_ids(PREFIX_TOKEN)
    if prefix_id is None or prefix_id == tokenizer.unk_token_id:
        raise ValueError(f"the router's tokenizer has no {PREFIX_TOKEN} token: build it with that extra token")
    head = {}
    if decision:
        ids = [tokenizer.convert_tokens_to_ids(t) for t in list(decision["tokens"]) + [decision["anchor"]]]
        if any(i is None or i == tokenizer.unk_token_id for i in ids):
            raise ValueError(
                f"a routing head needs each of {list(decision['tokens'])} and {decision['anchor']!r} "
                "as one token of the router's tokenizer (router.tool_tokens: true)"
            )
        head = {
            "decision_token_ids": ids[:-1],
            "decision_anchor_id": ids[-1],
            "decision_hidden": int(decision.get("hidden", 256)),
            "decision_lam_scale": float(decision.get("lam_scale", 3.0)),
            "decision_lr_scale": float(decision.get("lr_scale", 1.0)),
        }
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        bos_token_id=None,
        eos_token_id=tokenizer.convert_tokens_to_ids(IM_END),
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        condition_dim=condition_dim,
        prefix_tokens=prefix_tokens,
        prefix_token_id=prefix_id,
        projector_hidden=projector_hidden,
        projector_lr_scale=projector_lr_scale,
        lam_features=lam_features,
        condition_lm=condition_lm,
        architectures=[ARCHITECTURE],
        **head,
        **dict(arch),
    )
    with torch.random.fork_rng(devices=[]):  # seeded weights, and the caller's RNG left as it was
        torch.manual_seed(seed)
        return PrefixQwen2ForCausalLM(config)
