"""Who qualifies, as recorded reasoning (2021 rules of the Supreme People's Procuratorate).

A person qualifies when one situation of art. 7 applies and none of the exclusions of art. 8
does. The decision records which situation, each exclusion as checked, and the evidence relied
on; a rejection carries its reason code and the explanation owed to the applicant.
"""
from __future__ import annotations

from dataclasses import dataclass

# Art. 7: the situations in which aid may be given.
SITUATIONS = {
    "serious_injury_uncompensated": "被害人受到犯罪侵害致重伤或者严重残疾，案件无法侦破、超过追诉时效、加害人死亡或者无赔偿能力，生活困难",
    "urgent_treatment_unaffordable": "被害人受到犯罪侵害危及生命，急需救治，无力承担医疗救治费用",
    "deceased_dependants": "被害人因犯罪侵害死亡或丧失劳动能力，依靠其收入为主要生活来源的近亲属生活困难",
    "major_property_loss": "被害人受到犯罪侵害致使财产遭受重大损失，无法获得赔偿，生活困难",
    "retaliated_helper": "举报人、证人、鉴定人因举报、作证、鉴定受到打击报复，致使人身受到伤害或财产受到重大损失，生活困难",
    "tort_uncompensated": "因道路交通事故等民事侵权行为造成人身伤害，无法通过诉讼获得赔偿，生活困难",
    "other_necessary": "人民检察院认为应当救助的其他情形",
}

# Art. 8: each one excludes aid when it applies.
EXCLUSIONS = {
    "major_fault": "对案件发生有重大过错",
    "refused_cooperation": "无正当理由拒绝配合查明案件事实",
    "false_statement": "故意作虚伪陈述或者伪造证据，妨害诉讼",
    "waived_compensation": "在诉讼中主动放弃民事赔偿请求或者拒绝加害责任人及其近亲属赔偿",
    "hardship_not_caused": "生活困难非案件原因所导致",
    "already_compensated": "已经通过社会救助措施，得到合理补偿、救助",
}

REJECTION_REASONS = tuple(f"excluded_{code}" for code in EXCLUSIONS) + ("no_situation_applies", "withdrawn")


class ReasoningError(ValueError):
    """Reasoning that does not hold together; ``fields`` name the parts and codes."""

    def __init__(self, fields: dict[str, list[str]]):
        super().__init__(fields)
        self.fields = fields


@dataclass(frozen=True)
class Finding:
    eligible: bool
    situation: str | None
    exclusions_applying: tuple[str, ...]
    reason_code: str | None


def assess(situation: str | None, exclusions_checked: dict[str, bool], evidence: list[str],
           explanation: str | None = None) -> Finding:
    """Turn the reviewer's recorded reasoning into a finding, refusing incomplete reasoning.

    ``exclusions_checked`` must answer every exclusion of art. 8 (True: it applies); a situation
    other than the catch-all must rest on evidence; the catch-all needs an explanation.
    """
    errors: dict[str, list[str]] = {}
    if situation is not None and situation not in SITUATIONS:
        errors["situation"] = ["one_of"]
    missing = [code for code in EXCLUSIONS if code not in exclusions_checked]
    unknown = [code for code in exclusions_checked if code not in EXCLUSIONS]
    for code in missing:
        errors[f"exclusions.{code}"] = ["required"]
    for code in unknown:
        errors[f"exclusions.{code}"] = ["unknown_field"]
    if situation and not evidence:
        errors["evidence"] = ["required"]
    if situation == "other_necessary" and not (explanation or "").strip():
        errors["explanation"] = ["required"]
    if errors:
        raise ReasoningError(errors)
    applying = tuple(code for code in EXCLUSIONS if exclusions_checked[code])
    if applying:
        return Finding(False, situation, applying, f"excluded_{applying[0]}")
    if situation is None:
        return Finding(False, None, (), "no_situation_applies")
    return Finding(True, situation, (), None)
