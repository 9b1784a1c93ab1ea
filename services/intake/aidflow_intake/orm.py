"""Intake's tables: persons (the only place personal data lives), cases, beneficiaries, history."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from aidflow_shared.storage import UTCDateTime, new_id, new_metadata, utcnow


class Base(DeclarativeBase):
    metadata = new_metadata()


class Person(Base):
    """A natural person. ``id`` is the opaque ``person_ref`` other services see."""

    __tablename__ = "person"
    __table_args__ = (UniqueConstraint("id_type", "id_number"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    id_type: Mapped[str] = mapped_column(String(32))
    id_number: Mapped[str] = mapped_column(String(64))
    birth_date: Mapped[date | None] = mapped_column(Date)
    phone: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Case(Base):
    __tablename__ = "aid_case"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    case_number: Mapped[str] = mapped_column(String(32), unique=True)
    source: Mapped[str] = mapped_column(String(32))
    source_agency: Mapped[str | None] = mapped_column(String(64))
    stage: Mapped[str | None] = mapped_column(String(32))
    criminal_case_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    track: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), index=True)
    summary: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    beneficiaries: Mapped[list["Beneficiary"]] = relationship(back_populates="case", order_by="Beneficiary.position")
    history: Mapped[list["CaseHistory"]] = relationship(order_by="CaseHistory.at")


class Beneficiary(Base):
    __tablename__ = "beneficiary"
    __table_args__ = (UniqueConstraint("case_id", "person_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("aid_case.id"), index=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    relationship_to_victim: Mapped[str] = mapped_column(String(32))
    is_minor: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(32), default="open")

    case: Mapped[Case] = relationship(back_populates="beneficiaries")
    person: Mapped[Person] = relationship()


class CaseHistory(Base):
    """What happened to a case, as intake learned it from every service's events."""

    __tablename__ = "case_history"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    case_id: Mapped[str] = mapped_column(ForeignKey("aid_case.id"), index=True)
    status: Mapped[str] = mapped_column(String(32))
    event_type: Mapped[str | None] = mapped_column(String(255))
    note: Mapped[str | None] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
