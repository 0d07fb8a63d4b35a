"""States, actions and kinds of a case transferred to enforcement (移交违法案件)."""

from enum import StrEnum


class Status(StrEnum):
    """Where a case stands, from the draft to its closure."""

    DRAFT = "draft"
    TRANSFERRED = "transferred"
    ACCEPTED = "accepted"
    DECIDED = "decided"
    CLOSED = "closed"
    RETURNED = "returned"


class Action(StrEnum):
    """What can happen to a case; each is one event."""

    CREATE = "create"
    UPDATE = "update"
    ADD_EVIDENCE = "add_evidence"
    TRANSFER = "transfer"
    ACCEPT = "accept"
    DECIDE = "decide"
    CLOSE = "close"
    RETURN = "return"


# The actions that change the status; the others only record something.
TRANSITION_ACTIONS = (Action.TRANSFER, Action.ACCEPT, Action.DECIDE, Action.CLOSE, Action.RETURN)


class EvidenceKind(StrEnum):
    """The eight statutory kinds of evidence (行政处罚法 第四十六条)."""

    DOCUMENTARY = "documentary"
    PHYSICAL = "physical"
    AUDIOVISUAL = "audiovisual"
    ELECTRONIC = "electronic"
    WITNESS = "witness"
    PARTY_STATEMENT = "party_statement"
    EXPERT_OPINION = "expert_opinion"
    SITE_RECORD = "site_record"


EVIDENCE_NAMES = {
    EvidenceKind.DOCUMENTARY: "书证",
    EvidenceKind.PHYSICAL: "物证",
    EvidenceKind.AUDIOVISUAL: "视听资料",
    EvidenceKind.ELECTRONIC: "电子数据",
    EvidenceKind.WITNESS: "证人证言",
    EvidenceKind.PARTY_STATEMENT: "当事人的陈述",
    EvidenceKind.EXPERT_OPINION: "鉴定意见",
    EvidenceKind.SITE_RECORD: "勘验笔录、现场笔录",
}


class PartyKind(StrEnum):
    """The party (当事人): an enterprise of the register, or a natural person with an ID number."""

    ENTERPRISE = "enterprise"
    PERSON = "person"


class Source(StrEnum):
    """Where the case came from (案件来源)."""

    INSPECTION = "inspection"
    COMPLAINT = "complaint"
    ASSIGNED = "assigned"
    TRANSFERRED_IN = "transferred_in"


SOURCE_NAMES = {
    Source.INSPECTION: "检查发现",
    Source.COMPLAINT: "举报",
    Source.ASSIGNED: "上级交办",
    Source.TRANSFERRED_IN: "移送",
}


class PenaltyKind(StrEnum):
    """Kinds of administrative penalty (住房和城乡建设行政处罚程序规定), and no penalty."""

    WARNING = "warning"
    CRITICISM = "circulated_criticism"
    FINE = "fine"
    CONFISCATION = "confiscation"
    SUSPEND_LICENSE = "suspend_license"
    LOWER_QUALIFICATION = "lower_qualification"
    REVOKE_LICENSE = "revoke_license"
    RESTRICT_BUSINESS = "restrict_business"
    SUSPEND_BUSINESS = "suspend_business"
    STOP_PRACTICE = "stop_practice"
    RESTRICT_PRACTICE = "restrict_practice"
    NO_PENALTY = "no_penalty"


PENALTY_NAMES = {
    PenaltyKind.WARNING: "警告",
    PenaltyKind.CRITICISM: "通报批评",
    PenaltyKind.FINE: "罚款",
    PenaltyKind.CONFISCATION: "没收违法所得、没收非法财物",
    PenaltyKind.SUSPEND_LICENSE: "暂扣许可证件",
    PenaltyKind.LOWER_QUALIFICATION: "降低资质等级",
    PenaltyKind.REVOKE_LICENSE: "吊销许可证件",
    PenaltyKind.RESTRICT_BUSINESS: "限制开展生产经营活动",
    PenaltyKind.SUSPEND_BUSINESS: "责令停业整顿",
    PenaltyKind.STOP_PRACTICE: "责令停止执业",
    PenaltyKind.RESTRICT_PRACTICE: "限制从业",
    PenaltyKind.NO_PENALTY: "不予处罚",
}

STATUS_NAMES = {
    Status.DRAFT: "草稿", Status.TRANSFERRED: "已移送", Status.ACCEPTED: "已受理", Status.DECIDED: "已作出决定",
    Status.CLOSED: "已结案", Status.RETURNED: "已退回",
}
