"""Payout's error codes, in Chinese and English. Codes are stable; wording may change."""
from aidflow_shared.i18n import register_messages

MESSAGES = {
    # Money as it is written.
    "not_whole_fen": {"zh": "金额以“分”为单位的整数填写，例如 12.34 元应填 1234。",
                      "en": "Amounts are whole fen: ¥12.34 is written 1234."},
    "currency_not_supported": {"zh": "仅支持人民币（CNY）。", "en": "Only Chinese yuan (CNY) is accepted."},
    "invalid_account_number": {"zh": "银行账号应为 8 至 30 位数字。", "en": "A bank account number is 8 to 30 digits."},
    "not_allowed_for_method": {"zh": "此项不适用于所选的支付方式。", "en": "This field does not apply to this method."},
    "amount_mismatch": {"zh": "金额与核准的待付金额不一致。",
                        "en": "The amount differs from the approved amount still to pay."},
    "schedule_sum_mismatch": {"zh": "分期金额合计必须等于核准的待付金额。",
                              "en": "The instalments must add up to the approved amount still to pay."},
    "schedule_not_ascending": {"zh": "分期日期须按先后顺序排列且不得重复。",
                               "en": "Instalment dates must be in order, each once."},
    "in_past": {"zh": "日期不能早于今天。", "en": "The date may not be before today."},
    "exceeds_paid": {"zh": "追回金额不能超过已支付且未追回的金额。",
                     "en": "More than was paid and not yet recovered."},
    "exceeds_advance": {"zh": "超出先行救助金额的部分须另行作出救助决定。",
                        "en": "An amount beyond the advance needs a decision of its own."},
    # Which decision, which payout.
    "unknown_decision": {"zh": "未收到该救助决定。", "en": "No such decision has been received."},
    "decision_not_approved": {"zh": "该决定未批准救助，不能支付。", "en": "This decision did not approve aid."},
    "not_in_decision": {"zh": "该救助对象不在此决定中。", "en": "This beneficiary is not in the decision."},
    "not_reserved": {"zh": "救助资金尚未落实（等待拨款），暂不能支付。",
                     "en": "No money is reserved for this payout yet: it awaits funds."},
    "payout_cancelled": {"zh": "该笔救助金已撤销。", "en": "This payout is cancelled."},
    "already_paid": {"zh": "该笔救助金已支付。", "en": "This payout is already paid."},
    "payment_in_flight": {"zh": "已有支付指令在银行处理中，请待银行答复后再操作。",
                          "en": "A payment order is with the bank; wait for its answer."},
    "not_an_advance": {"zh": "该笔救助金不是先行救助。", "en": "This payout is not an advance payment."},
    "already_reconciled": {"zh": "该笔先行救助已补齐手续。", "en": "This advance is already reconciled."},
    # Funds.
    "unknown_fund_request": {"zh": "资金申请不存在。", "en": "No such fund request."},
    "fund_request_mismatch": {"zh": "拨款与资金申请的年度或来源不一致。",
                              "en": "The allocation's fund is of another year or source than the request."},
    "nothing_short": {"zh": "目前没有资金缺口，请填写申请金额。",
                      "en": "No money is short at present; give the amount to request."},
    # The API itself.
    "idempotency_in_progress": {"zh": "使用该幂等键的请求仍在处理中，请稍后重试。",
                                "en": "A request with this idempotency key is still running; try again shortly."},
    "payee_key_missing": {"zh": "未配置收款人信息加密密钥，不能保存银行账户信息。",
                          "en": "No key is configured to seal payees' bank details; they cannot be stored."},
}

register_messages(MESSAGES)
