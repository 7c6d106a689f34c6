"""The session side's redemption lives in the SDK (services fetch values the same way); re-exported here."""

from sealbox.sdk.redeem import Delivered, Delivery, redeem

__all__ = ["Delivered", "Delivery", "redeem"]
