"""aidflow's client for partner agencies: submit referrals, receive and answer hand-offs.

    from aidflow_partner import PartnerClient

    with PartnerClient("amqps://poverty-bureau:SECRET@mq.example.org:5671/aidflow", "poverty-bureau") as client:
        message_id = client.submit_referral(referral)
        answer = client.wait_for_answer(message_id)   # referral.accepted or referral.rejected
"""
from aidflow_partner.client import (AnswerTimeout, BrokerRefused, ConnectionFailed, PartnerClient, PartnerError,
                                    PublishRefused, ReadRefused)
from aidflow_partner.envelope import COMMANDS, BadMessage, Incoming, Outgoing, build_command, parse_incoming

__all__ = ["PartnerClient", "PartnerError", "ConnectionFailed", "BrokerRefused", "PublishRefused", "ReadRefused",
           "AnswerTimeout", "Incoming", "Outgoing", "BadMessage", "COMMANDS", "build_command", "parse_incoming"]
