"""Intake's error codes, in Chinese and English. Codes are stable; wording may change."""
from aidflow_shared.i18n import register_messages

MESSAGES = {
    # A person's identity.
    "invalid_id_format": {"zh": "居民身份证号码应为18位，前17位为数字，末位为数字或X。",
                          "en": "A resident ID number is 17 digits followed by a digit or X."},
    "invalid_id_region": {"zh": "居民身份证号码的地区码无效。", "en": "The region code of the ID number is not valid."},
    "invalid_id_birth_date": {"zh": "居民身份证号码中的出生日期无效或在未来。",
                              "en": "The birth date in the ID number is not a valid past date."},
    "invalid_id_checksum": {"zh": "居民身份证号码校验码错误，请核对。",
                            "en": "The check character of the ID number is wrong; please check the number."},
    "birth_date_mismatch": {"zh": "出生日期与身份证号码不一致。", "en": "The birth date differs from the ID number's."},
    "invalid_phone": {"zh": "电话号码格式无效。", "en": "Not a valid phone number."},
    "in_future": {"zh": "日期不能晚于当前时间。", "en": "The date may not be in the future."},
    "exclusive": {"zh": "“因案致贫”与“因案返贫”只能选其一。",
                  "en": "Impoverished by the case and fallen back by it exclude each other."},
    "duplicate": {"zh": "重复的条目。", "en": "Duplicate entry."},
    # Who a case is for.
    "relative_required": {"zh": "被害人已死亡的，由其近亲属作为救助对象共同申请。",
                          "en": "For a deceased victim, the close relatives are the beneficiaries, jointly."},
    "one_direct_person_per_case": {"zh": "同一刑事案件的多名直接被害人应分别立案，并关联到该刑事案件。",
                                   "en": "Each person harmed directly is a separate case, linked by criminal case."},
    "unknown_beneficiary": {"zh": "救助对象不属于本案。", "en": "No such beneficiary in this case."},
    # Where a case came from.
    "not_allowed_for_source": {"zh": "该字段不适用于此案件来源。", "en": "This field does not apply to this source."},
    "must_be_empty": {"zh": "此项此时应为空。", "en": "This field must be empty here."},
    "accepted_before_received": {"zh": "受理日期不能早于收到日期。", "en": "A case cannot be accepted before it was received."},
    "unknown_agency": {"zh": "该单位不在合作单位名录中。", "en": "This agency is not in the registry of partners."},
    "agency_mismatch": {"zh": "不能以其他单位的名义移送案件。",
                        "en": "An agency may transfer cases only in its own name."},
    "agency_required": {"zh": "合作单位的登录凭证须注明所属单位。",
                        "en": "A partner's token must name its agency."},
    # Duplicates and state.
    "duplicate_case": {"zh": "此人在同一刑事案件中已有未结的救助案件。",
                       "en": "This person already has an open case in the same criminal case."},
    "already_aided": {"zh": "此人已就同一刑事案件获得救助，救助以一次为限。",
                      "en": "This person was already aided in the same criminal case; aid is one-off."},
    "already_accepted": {"zh": "该案件已受理。", "en": "The case is already accepted."},
    "checklist_incomplete": {"zh": "材料不齐，不能受理；请补齐材料或注明理由。",
                             "en": "Documents are missing; complete them or record why the case is accepted anyway."},
    "missing": {"zh": "缺少此项材料。", "en": "This document is missing."},
    "lead_already_promoted": {"zh": "该线索已核实立案，不能重复立案。", "en": "This lead already became a case."},
    "lead_dismissed": {"zh": "该线索已被排除。", "en": "This lead was dismissed."},
    # Answers to follow-up's re-referrals.
    "unknown_person": {"zh": "受理部门没有此人的记录。", "en": "Intake has no record of this person."},
    "unknown_case": {"zh": "原案件不存在。", "en": "The earlier case does not exist."},
}

register_messages(MESSAGES)
