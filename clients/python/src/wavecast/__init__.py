"""wavecast: an asyncio client for the wavecast streaming server.

::

    async with wavecast.connect("ws://127.0.0.1:8000/ws", api_key="k") as client:
        news = await client.subscribe("news", recover=True)
        async for pub in news:
            print(pub.offset, pub.data)

See README.md for the whole API; docs/protocol.md in the server's
repository for the wire protocol.
"""

from .agents import AgentEvent
from .auth import ApiKey, Credentials, Jwt, KeyId, SignedApiKey, sign, timestamp_ms
from .backoff import Backoff
from .client import Client, connect
from .errors import *  # noqa: F403 - the exception classes are public API
from .errors import __all__ as _error_names
from .events import (
    ChannelEvent,
    Connected,
    Disconnected,
    Dropped,
    Event,
    HistoryPage,
    Message,
    Position,
    Publication,
    PublishResult,
    Refreshed,
    ServerNotice,
    Subscribed,
    Unsubscribed,
)
from .http import HttpApi
from .session import PROTOCOL_VERSION
from .streams import (
    FeatureUpdate,
    Field,
    SimulationComplete,
    SimulationState,
    StreamInfo,
    simulation_live,
    stream_features,
)
from .subscription import Subscription

__version__ = "0.1.0"

__all__ = [
    "connect",
    "Client",
    "Subscription",
    "Credentials",
    "ApiKey",
    "SignedApiKey",
    "KeyId",
    "Jwt",
    "sign",
    "timestamp_ms",
    "Backoff",
    "HttpApi",
    "AgentEvent",
    "Position",
    "Publication",
    "Message",
    "Subscribed",
    "Unsubscribed",
    "Dropped",
    "Connected",
    "Disconnected",
    "Refreshed",
    "ServerNotice",
    "Event",
    "ChannelEvent",
    "PublishResult",
    "HistoryPage",
    "FeatureUpdate",
    "SimulationState",
    "SimulationComplete",
    "Field",
    "StreamInfo",
    "stream_features",
    "simulation_live",
    "PROTOCOL_VERSION",
    *_error_names,
]
