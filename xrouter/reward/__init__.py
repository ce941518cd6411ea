"""Cost-aware rewards: (score, cost, format) -> scalar, every component returned for logging."""

from xrouter.reward.functions import RewardComponents, build_reward, linear_reward, xrouter_reward

__all__ = ["RewardComponents", "linear_reward", "xrouter_reward", "build_reward"]
