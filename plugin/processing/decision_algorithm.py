"""Decide what an order waits for: choose a feasibility option, accept or reject a price quote."""
from __future__ import annotations

from qgis.core import (
    QgsProcessingException,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingParameterEnum,
    QgsProcessingParameterString,
)

from ..model import Decision
from .algorithm import TaskingAlgorithm
from .connections import keep_sandbox_state

ORDER_ID = "ORDER_ID"
DECISION = "DECISION"
OPTION_ID = "OPTION_ID"
STATUS = "STATUS"
PRICE = "PRICE"
CHOSEN = "CHOSEN"
CHOOSE_OPTION = "choose feasibility option"
ACCEPT_QUOTE = "accept quote"
REJECT_QUOTE = "reject quote"
DECISIONS = (CHOOSE_OPTION, ACCEPT_QUOTE, REJECT_QUOTE)


class DecideOrderAlgorithm(TaskingAlgorithm):
    algorithm_name = "decideorder"
    algorithm_title = "Decide feasibility or quote of an order"
    help_text = (
        "<p>Some products (UP42's Pléiades Neo, for example) wait for the customer twice before tasking starts: "
        "a <b>feasibility study</b> offers options to choose one from, then a <b>price quote</b> is accepted "
        "or rejected. The order's <i>decision</i> column (Sync tasking orders) says which one it waits for.</p>"
        "<p><b>Choose feasibility option</b> needs the <b>option id</b>; run it without one to have the "
        "options of the study listed in the error message. <b>Accept quote</b> deducts the price from your "
        "credits and starts tasking; <b>reject quote</b> ends the order.</p>")

    def initAlgorithm(self, config=None):
        self.add_connection_parameter()
        self.addParameter(QgsProcessingParameterString(ORDER_ID, "Order id"))
        self.addParameter(QgsProcessingParameterEnum(DECISION, "Decision", options=list(DECISIONS),
                                                     defaultValue=CHOOSE_OPTION, usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterString(OPTION_ID, "Feasibility option id", optional=True))
        self.addOutput(QgsProcessingOutputString(ORDER_ID, "Order id"))
        self.addOutput(QgsProcessingOutputString(STATUS, "Decision recorded"))
        self.addOutput(QgsProcessingOutputString(CHOSEN, "Option chosen"))
        self.addOutput(QgsProcessingOutputNumber(PRICE, "Price of the quote"))

    def process(self, parameters, context, feedback):
        order_id = self.parameterAsString(parameters, ORDER_ID, context).strip()
        if not order_id:
            raise QgsProcessingException("Give the id of the order to decide on.")
        decision = self.parameterAsEnumString(parameters, DECISION, context) or CHOOSE_OPTION
        option_id = (self.parameterAsString(parameters, OPTION_ID, context) or "").strip()
        connection, provider = self.connection_and_provider(parameters, feedback)
        feedback.setProgress(10)
        try:
            order = provider.order(order_id)
        except Exception as error:  # noqa: BLE001
            raise self.failed(connection, error) from None
        feedback.setProgress(30)
        if feedback.isCanceled():
            return {}
        try:
            if decision == CHOOSE_OPTION:
                result = self._choose(provider, order, option_id, feedback)
            else:
                result = self._quote(provider, order, decision == ACCEPT_QUOTE, feedback)
        except QgsProcessingException:
            raise
        except Exception as error:  # noqa: BLE001
            raise self.failed(connection, error) from None
        finally:
            keep_sandbox_state(provider, connection)
        feedback.setProgress(100)
        return {ORDER_ID: order.id, **result}

    @staticmethod
    def _choose(provider, order, option_id, feedback) -> dict:
        if order.decision != Decision.FEASIBILITY:
            raise QgsProcessingException(f"Order {order.id} (“{order.name}”) waits for no feasibility choice; it is "
                                         f"{order.status.describe()}{_waiting(order)}.")
        study = provider.feasibility(order)
        if study is None or not study.options:
            raise QgsProcessingException(f"The feasibility study of order {order.id} has no options yet; try "
                                         "again later.")
        listed = "; ".join(f"{o.id} ({o.description})" if o.description else o.id for o in study.options)
        if not option_id:
            raise QgsProcessingException(f"Choose one of the feasibility options of order {order.id} and give its "
                                         f"id: {listed}.")
        option = next((o for o in study.options if o.id == option_id), None)
        if option is None:
            raise QgsProcessingException(f"The feasibility study of order {order.id} has no option {option_id}. "
                                         f"Its options: {listed}.")
        feedback.setProgress(60)
        provider.choose_option(study, option)
        feedback.pushInfo(f"Option {option.id} confirmed for “{order.name}”; a price quote follows.")
        return {STATUS: "option chosen", CHOSEN: option.id, PRICE: None}

    @staticmethod
    def _quote(provider, order, accept, feedback) -> dict:
        if order.decision != Decision.QUOTATION:
            raise QgsProcessingException(f"Order {order.id} (“{order.name}”) waits for no price decision; it is "
                                         f"{order.status.describe()}{_waiting(order)}.")
        quotation = provider.quotation(order)
        if quotation is None:
            raise QgsProcessingException(f"The price quote of order {order.id} is not ready yet; try again later.")
        feedback.setProgress(60)
        provider.decide(quotation, accept)
        verb = "accepted" if accept else "rejected"
        feedback.pushInfo(f"Price of {quotation.price:,g} {quotation.unit} {verb} for “{order.name}”.")
        return {STATUS: f"quote {verb}", CHOSEN: "", PRICE: quotation.price}


def _waiting(order) -> str:
    if order.decision == Decision.FEASIBILITY:
        return " and waits for a feasibility choice"
    if order.decision == Decision.QUOTATION:
        return " and waits for a price decision"
    return ""
