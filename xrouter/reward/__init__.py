"""Cost-aware rewards: (score, cost, format) -> scalar, every component returned for logging."""

from xrouter.reward.functions import RewardComponents, linear_reward, xrouter_reward, build_reward

__all__ = ["RewardComponents", "linear_reward", "xrouter_reward", "build_reward"]
