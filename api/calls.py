"""The JSON API's endpoints about live calls: patch a caller to the practice's on-call provider."""
from __future__ import annotations

import logging

from flask import current_app, jsonify, request

from api import bp
from api.auth import current_user, token_required
from api.errors import ApiError, InvalidField, NotAllowed
from agents.users import answers_for
from core.errors import redis_errors_as_dependency_down
from ivr.errors import CallNotConnected, NoOnCallProvider, PatchFailed, PatchInProgress
from ivr.on_call import CALL_SID, OnCallPatcher

log = logging.getLogger(__name__)


class CallNotConnectedError(ApiError):
    status = 409
    error_id = "call-not-connected"


class NoOnCallProviderError(ApiError):
    status = 409
    error_id = "no-on-call-provider"


class PatchInProgressError(ApiError):
    status = 409
    error_id = "patch-in-progress"


class TwilioUnavailable(ApiError):
    status = 502
    error_id = "twilio-unavailable"


def _patch_url(provider_id: int) -> str:
    services = current_app.extensions["careline"]
    return f"{services.public_base_url().rstrip('/')}/voice/on-call/patch?provider={int(provider_id)}"


@bp.post("/calls/<call_sid>/patch-on-call")
@token_required()
def patch_on_call(call_sid: str):
    """Patch a caller connected to an agent to the practice's first on-call provider: the caller's leg is
    redirected to ring them, the agent's leg ends. 202; 400; 401; 403; 409 not connected, no provider, or
    patched by another request already; 502 when Twilio refuses; 503."""
    if not CALL_SID.fullmatch(call_sid):
        raise InvalidField("call_sid", "a CallSid is CA followed by 32 hexadecimal digits")
    user = current_user()
    patcher = OnCallPatcher(current_app.extensions["careline"], _patch_url)
    try:
        with redis_errors_as_dependency_down():
            patched = patcher.patch(call_sid, lambda practice_id: answers_for(user, practice_id), user.id)
    except CallNotConnected as exc:
        raise CallNotConnectedError("the call is not connected to an agent", call_sid=call_sid) from exc
    except PermissionError as exc:
        log.info("api: agent %s refused %s %s: not their practice", user.id, request.method, request.path)
        raise NotAllowed("you do not answer for this call's practice", call_sid=call_sid) from exc
    except NoOnCallProvider as exc:
        raise NoOnCallProviderError("the practice lists no on-call provider", call_sid=call_sid) from exc
    except PatchInProgress as exc:
        raise PatchInProgressError("another request is patching this call, or patched it already",
                                   call_sid=call_sid) from exc
    except PatchFailed as exc:
        raise TwilioUnavailable("Twilio did not redirect the call; the agent still has it", call_sid=call_sid) from exc
    return jsonify(call_sid=patched.call_sid, provider_id=patched.provider_id, agent_id=patched.agent_id), 202
