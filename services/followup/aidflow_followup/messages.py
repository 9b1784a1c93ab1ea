"""Follow-up's error codes, in Chinese and English. Codes are stable; wording may change."""
from aidflow_shared.i18n import register_messages

MESSAGES = {
    # Dates and free text.
    "date_in_future": {"zh": "日期不能晚于当前时间。", "en": "The date may not be in the future."},
    "before_plan": {"zh": "日期不能早于帮扶计划建立之时。", "en": "The date may not be before the plan was opened."},
    "before_request": {"zh": "日期不能早于转介发出之时。", "en": "The date may not be before the hand-off was sent."},
    "personal_data_in_text": {"zh": "此处不得填写身份证号码或手机号码；联系方式请在联系信息中登记。",
                              "en": "No ID or mobile numbers here; record contact details in the contact record."},
    "reason_required": {"zh": "请说明理由。", "en": "Give the reason."},
    "outcome_required": {"zh": "“已完成”须说明服务结果。", "en": "A completed hand-off needs its outcome."},
    # The needs assessment.
    "counselling_assessment_required": {"zh": "未成年人的需求评估必须包含心理疏导一项。",
                                        "en": "A minor's assessment must include psychological counselling."},
    "duplicate_service": {"zh": "同一帮扶事项只能出现一次。", "en": "Each service may appear once."},
    "not_a_need": {"zh": "该事项不在帮扶计划的待满足需求中。", "en": "This service is not an open need of the plan."},
    "not_assessed": {"zh": "帮扶计划尚未完成需求评估。", "en": "The plan's needs have not been assessed."},
    "facts_unknown": {"zh": "尚未收到该案受理信息，暂不能办理。",
                      "en": "The case's acceptance has not reached follow-up yet."},
    # Agencies, consent and contact details.
    "unknown_partner_agency": {"zh": "该单位不在帮扶合作单位名录中或已停用。",
                               "en": "This agency is not an active assistance partner."},
    "not_a_provider": {"zh": "该单位不提供此项帮扶。", "en": "This agency does not provide this service."},
    "guardian_consent_required": {"zh": "未成年人的信息共享须由其监护人同意。",
                                  "en": "For a minor, consent is given by the guardian."},
    "category_not_needed": {"zh": "该单位的帮扶事项不需要此类信息，未成年人的信息不予共享。",
                            "en": "This agency's services do not need this data; a minor's data is not shared."},
    "consent_missing": {"zh": "当事人未同意向该单位提供此项帮扶所需的信息。",
                        "en": "The person has not agreed to share what this service needs with this agency."},
    "not_consented": {"zh": "未获同意共享此类信息。", "en": "Not consented to share."},
    "contact_missing": {"zh": "尚未登记当事人的联系方式。", "en": "The person's contact details are not recorded."},
    "contact_key_missing": {"zh": "未配置联系方式加密密钥，不能保存或查看联系方式。",
                            "en": "No key is configured to seal contact details; they cannot be stored or read."},
    "token_agency_required": {"zh": "合作单位的登录凭证须注明所属单位。", "en": "A partner's token must name its agency."},
    # Hand-offs and the agencies' answers.
    "handoff_already_open": {"zh": "该事项已有未办结的转介。", "en": "A hand-off for this service is still open."},
    "unknown_handoff": {"zh": "没有此转介。", "en": "No such hand-off."},
    "not_your_handoff": {"zh": "该转介不是发给本单位的。", "en": "This hand-off was not sent to your agency."},
    "handoff_agency_mismatch": {"zh": "不能以其他单位的名义答复转介。",
                                "en": "An agency may answer hand-offs only in its own name."},
    "status_backwards": {"zh": "转介状态不能倒退。", "en": "A hand-off's status cannot go backwards."},
    "handoff_closed": {"zh": "该转介已办结（已完成、已拒绝或已撤回），不能再更改。",
                       "en": "This hand-off is closed (completed, declined or withdrawn)."},
    # Visits, closure, re-referral.
    "plan_closed": {"zh": "帮扶计划已结案；如需继续，请先重新启动。", "en": "The plan is closed; reopen the case first."},
    "visit_closed": {"zh": "该回访已记录或已取消。", "en": "This visit is already recorded or cancelled."},
    "closure_refused": {"zh": "尚有未满足的需求、未办结的转介或未完成的回访，不能结案。",
                        "en": "Needs, hand-offs or visits are still open; the case cannot close."},
    "need_open": {"zh": "需求尚未满足。", "en": "This need is still open."},
    "handoff_open": {"zh": "转介尚未办结。", "en": "This hand-off is still open."},
    "visit_open": {"zh": "回访尚未完成。", "en": "This visit has not been made."},
    "no_plan": {"zh": "该案尚无帮扶计划。", "en": "The case has no plan."},
    "followup_closed": {"zh": "该案帮扶已结案。", "en": "The case's follow-up is closed."},
    "followup_not_closed": {"zh": "该案帮扶尚未结案。", "en": "The case's follow-up is not closed."},
    "no_relapse_recorded": {"zh": "尚未记录返困情况，不能再次移送。",
                            "en": "No return to hardship is recorded; there is nothing to re-refer."},
    "same_criminal_case": {"zh": "同一人同一刑事案件的司法救助以一次为限。",
                           "en": "Aid is one-off per person and criminal case."},
    "rereferral_open": {"zh": "已有等待受理的再次移送。", "en": "A re-referral is still waiting for intake's answer."},
}

register_messages(MESSAGES)
