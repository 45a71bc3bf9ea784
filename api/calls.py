"""The JSON API's endpoints about live calls: patch a caller to the practice's on-call provider."""
from __future__ import annotations

from flask import current_app, jsonify

from api import bp
from api.auth import current_user, token_required
from api.errors import InvalidField
from agents.users import answers_for
from core.errors import redis_errors_as_dependency_down
from ivr.on_call import CALL_SID


@bp.post("/calls/<call_sid>/patch-on-call")
@token_required()
def patch_on_call(call_sid: str):
    """Patch a caller connected to an agent to the practice's first on-call provider: the caller's leg is
    redirected to ring them, the agent's leg ends. Only the agent connected to the call may. 202; 400; 401; 403
    for anyone else (and another practice's call); 409 not connected, no provider, or patched by another request
    already; 502 when Twilio refuses; 503."""
    if not CALL_SID.fullmatch(call_sid):
        raise InvalidField("call_sid", "a CallSid is CA followed by 32 hexadecimal digits")
    user = current_user()
    patcher = current_app.extensions["careline"].on_call_patcher
    with redis_errors_as_dependency_down():
        patched = patcher.patch(call_sid, lambda practice_id: answers_for(user, practice_id), user.id)
    return jsonify(call_sid=patched.call_sid, provider_id=patched.provider_id, agent_id=patched.agent_id), 202
