# ruff: noqa: E501
"""Built-in texts of every message kind, in French and English.

They are user-template sources (rendered in the sandbox with the same
placeholders as the owner's own texts), so "Reset to default" is simply
deleting the owner's row. One text serves both channels unless a letter needs
different words (``LETTER``)."""

from __future__ import annotations

# ------------------------------------------------ Formal notice (level 4)
# The title, then the sender, the recipient and the date. An email carries them in
# its text; a letter prints the last three in its own layout
# (templates/documents/_letter.html), so its text has only the title.
NOTICE_TITLE = {"fr": "MISE EN DEMEURE\n\n", "en": "FORMAL NOTICE\n\n"}
NOTICE_HEAD = {
    "fr": """De : {{ business_name }}{% if business_address %}, {{ business_address }}{% endif %}{% if company_number %}, n° d'entreprise {{ company_number }}{% endif %}{% if vat_number %}, TVA {{ vat_number }}{% endif %}

À : {{ client_name }}{% if client_address %}, {{ client_address }}{% endif %}

Le {{ today }}

""",
    "en": """From: {{ business_name }}{% if business_address %}, {{ business_address }}{% endif %}{% if company_number %}, company number {{ company_number }}{% endif %}{% if vat_number %}, VAT {{ vat_number }}{% endif %}

To: {{ client_name }}{% if client_address %}, {{ client_address }}{% endif %}

Date: {{ today }}

""",
}

NOTICE_BODY = {
    "fr": """Madame, Monsieur,

Malgré nos précédents rappels, les factures suivantes restent impayées à ce jour :

{% for invoice in invoices %}- facture {{ invoice.number }} du {{ invoice.date }}, échue le {{ invoice.due_date }} : {{ invoice.balance }} restant dû
{% endfor %}
Montant total dû : {{ total_balance }}

Par la présente, nous vous mettons en demeure de nous régler cette somme dans un délai de {{ deadline_days }} jours à compter de la réception de ce courrier, soit au plus tard le {{ deadline_date }}.

{legal}

{{ payment_details }}

Si vous avez réglé cette somme entre-temps, nous vous prions de ne pas tenir compte de ce courrier.

Veuillez agréer, Madame, Monsieur, nos salutations distinguées.

{{ business_name }}""",
    "en": """Dear Sir or Madam,

Despite our previous reminders, the following invoices remain unpaid to this day:

{% for invoice in invoices %}- invoice {{ invoice.number }} of {{ invoice.date }}, due on {{ invoice.due_date }}: {{ invoice.balance }} outstanding
{% endfor %}
Total amount due: {{ total_balance }}

By this formal notice, we hereby formally demand payment of this amount within {{ deadline_days }} days of receiving it, that is by {{ deadline_date }} at the latest.

{legal}

{{ payment_details }}

If you have paid this amount in the meantime, please disregard this notice.

Yours faithfully,

{{ business_name }}""",
}

# What follows an unpaid formal notice, by the country of the client (Client.country,
# as app/fees.py): the law of that country, or a neutral text elsewhere ("").
# - France: Code de commerce art. L441-10 (late interest) and D441-5 (€40 per invoice,
#   business clients only).
# - Belgium: law of 2 August 2002 on late payment in commercial transactions (business
#   clients: interest at the rate for commercial transactions, art. 5; at least €40
#   per invoice, art. 6); consumers: interest at the legal rate.
# - Canada (Québec): Code civil du Québec art. 1617: interest at the agreed rate or,
#   failing that, the legal rate, from the notice; no fixed compensation.
NOTICE_LEGAL: dict[tuple[str, str], str] = {
    ("fr", "FR"): (
        "À défaut de paiement dans ce délai, nous engagerons sans autre avis une procédure judiciaire de recouvrement. Les sommes dues porteront intérêts de retard au taux prévu par nos conditions ou, à défaut, par la loi{% if client_is_business %}, et l'indemnité forfaitaire pour frais de recouvrement de 40 € par facture (articles L441-10 et D441-5 du Code de commerce) est exigible{% endif %}, sans préjudice des frais de procédure qui resteront à votre charge."
    ),
    ("fr", "BE"): (
        "À défaut de paiement dans ce délai, nous engagerons sans autre avis une procédure judiciaire de recouvrement. "
        "{% if client_is_business %}Conformément à la loi du 2 août 2002 concernant la lutte contre le retard de paiement dans les transactions commerciales, les sommes dues porteront intérêts de retard au taux prévu par nos conditions ou, à défaut, au taux d'intérêt légal applicable aux transactions commerciales, et une indemnité forfaitaire pour frais de recouvrement d'au moins 40 € par facture est due"
        "{% else %}Les sommes dues porteront intérêts de retard au taux prévu par nos conditions ou, à défaut, au taux d'intérêt légal{% endif %}"
        ", sans préjudice des frais de procédure qui resteront à votre charge."
    ),
    ("fr", "CA"): (
        "Les sommes dues porteront intérêts au taux convenu ou, à défaut, au taux légal, à compter de la présente mise en demeure (article 1617 du Code civil du Québec). "
        "À défaut de paiement dans ce délai, des procédures judiciaires pourront être intentées contre vous sans autre avis, et les frais de justice pourront vous être réclamés."
    ),
    ("fr", ""): (
        "À défaut de paiement dans ce délai, nous nous réservons le droit d'engager une procédure de recouvrement sans autre avis. "
        "Les sommes dues pourront porter intérêts de retard au taux prévu par nos conditions, sans préjudice des frais de recouvrement et de procédure."
    ),
    ("en", "FR"): (
        "If payment is not received within this period, we will start legal proceedings to recover the debt without further notice. "
        "The amounts due will bear late-payment interest at the rate set in our terms or, failing that, by law"
        "{% if client_is_business %}, and the fixed compensation for recovery costs of EUR 40 per invoice (French Commercial Code, articles L441-10 and D441-5) is due{% endif %}"
        ", without prejudice to the costs of proceedings, which will be charged to you."
    ),
    ("en", "BE"): (
        "If payment is not received within this period, we will start legal proceedings to recover the debt without further notice. "
        "{% if client_is_business %}Under the Belgian law of 2 August 2002 on combating late payment in commercial transactions, the amounts due will bear late-payment interest at the rate set in our terms or, failing that, at the statutory interest rate for commercial transactions, and a fixed compensation for recovery costs of at least EUR 40 per invoice is due"
        "{% else %}The amounts due will bear late-payment interest at the rate set in our terms or, failing that, at the legal interest rate{% endif %}"
        ", without prejudice to the costs of proceedings, which will be charged to you."
    ),
    ("en", "CA"): (
        "The amounts due will bear interest at the agreed rate or, failing that, at the legal rate, from the date of this notice (article 1617 of the Civil Code of Québec). "
        "If payment is not received within this period, legal proceedings may be brought against you without further notice, and the legal costs may be claimed from you."
    ),
    ("en", ""): (
        "If payment is not received within this period, we reserve the right to take recovery proceedings without further notice. "
        "The amounts due may bear late-payment interest at the rate set in our terms, without prejudice to recovery and legal costs."
    ),
}


# Until the render context has ``client_country``: one paragraph for every client, as
# before (French law in French; the EU directive in English).
NOTICE_LEGAL_ANY_COUNTRY = {
    "fr": NOTICE_LEGAL[("fr", "FR")],
    "en": (
        "If payment is not received within this period, we will start legal proceedings to recover the debt without further notice. "
        "The amounts due will bear late-payment interest at the rate set in our terms or, failing that, by law"
        "{% if client_is_business %}, and the fixed compensation for recovery costs of EUR 40 per invoice (Directive 2011/7/EU) is due{% endif %}"
        ", without prejudice to the costs of proceedings, which will be charged to you."
    ),
}


def notice_legal_by_country(language: str) -> str:
    """The legal paragraph of a formal notice as one template that chooses on
    ``client_country`` (FR, BE, CA; any other country: the neutral text)."""
    text = ""
    for country in ("FR", "BE", "CA"):
        text += "{% if" if not text else "{% elif"
        text += f' client_country == "{country}" %}}' + NOTICE_LEGAL[(language, country)]
    return text + "{% else %}" + NOTICE_LEGAL[(language, "")] + "{% endif %}"


# The final reminder (level 3) warns that late-payment interest may be claimed and, for a
# business client, the fixed recovery compensation too: France (D441-5) and Belgium (law
# of 2 August 2002) have it, as every EU country (Directive 2011/7/EU, art. 6); Québec /
# Canada has none (Code civil du Québec art. 1617: interest only), so a Canadian client
# is not told about it. A client with another country or none keeps the sentence as
# before (it only says "may be claimed"; the formal notice that follows stays neutral).
EMAIL: dict[tuple[str, str], tuple[str, str]] = {
    # ---------------------------------------------------------------- French
    ("fr", "before_due"): (
        "Rappel : la facture {{ invoice_number }} arrive à échéance {% if days_left == 1 %}demain{% else %}dans {{ days_left }} jours{% endif %}",
        """Bonjour {{ client_name }},

Un petit mot pour vous rappeler que la facture {{ invoice_number }} de {{ amount }} arrive à échéance le {{ due_date }}{% if days_left == 1 %}, demain{% else %}, dans {{ days_left }} jours{% endif %}.

Montant restant dû : {{ balance }}{% if paid %} (compte tenu des {{ paid }} déjà reçus, merci){% endif %}

{{ payment_details }}

Si le règlement est déjà parti, merci beaucoup et ne tenez pas compte de ce message.

Bien cordialement,
{{ business_name }}""",
    ),
    ("fr", "due_today"): (
        "Rappel : la facture {{ invoice_number }} arrive à échéance aujourd'hui",
        """Bonjour {{ client_name }},

La facture {{ invoice_number }} de {{ amount }} arrive à échéance aujourd'hui, {{ due_date }}.

Montant restant dû : {{ balance }}{% if paid %} (compte tenu des {{ paid }} déjà reçus, merci){% endif %}

{{ payment_details }}

Si le règlement est déjà parti, merci et ne tenez pas compte de ce message.

Bien cordialement,
{{ business_name }}""",
    ),
    ("fr", "level1"): (
        "Rappel : la facture {{ invoice_number }} est en retard de {{ days_overdue }} jour{% if days_overdue > 1 %}s{% endif %}",
        """Bonjour {{ client_name }},

Sauf erreur de notre part, la facture {{ invoice_number }} du {{ invoice_date }}, échue le {{ due_date }}, n'est pas encore réglée ({{ days_overdue }} jour{% if days_overdue > 1 %}s{% endif %} de retard).

Montant restant dû : {{ balance }}{% if paid %} (compte tenu des {{ paid }} déjà reçus, merci){% endif %}

{{ payment_details }}

Vous trouverez la facture en pièce jointe. Si vous avez déjà payé, merci et ne tenez pas compte de ce message ; si quelque chose ne va pas avec cette facture, dites-le-nous simplement.

Bien cordialement,
{{ business_name }}""",
    ),
    ("fr", "level2"): (
        "Deuxième rappel : la facture {{ invoice_number }} est en retard de {{ days_overdue }} jour{% if days_overdue > 1 %}s{% endif %}",
        """Bonjour {{ client_name }},

Ceci est notre deuxième rappel : sauf erreur de notre part, la facture {{ invoice_number }} du {{ invoice_date }}, échue le {{ due_date }}, reste impayée ({{ days_overdue }} jour{% if days_overdue > 1 %}s{% endif %} de retard).

Montant restant dû : {{ balance }}{% if paid %} (compte tenu des {{ paid }} déjà reçus, merci){% endif %}

Merci de procéder au règlement dès réception de ce message.

{{ payment_details }}

Si le paiement a déjà été effectué, merci de nous en indiquer la date.

Cordialement,
{{ business_name }}""",
    ),
    ("fr", "level3"): (
        "Dernier rappel : la facture {{ invoice_number }} est en retard de {{ days_overdue }} jour{% if days_overdue > 1 %}s{% endif %}",
        """Bonjour {{ client_name }},

Ceci est notre dernier rappel : malgré nos précédents messages, la facture {{ invoice_number }} du {{ invoice_date }}, échue le {{ due_date }}, n'est toujours pas réglée ({{ days_overdue }} jour{% if days_overdue > 1 %}s{% endif %} de retard).

Montant restant dû : {{ balance }}{% if paid %} (compte tenu des {{ paid }} déjà reçus, merci){% endif %}

Nous vous demandons de la régler sous {{ deadline_days }} jours, au plus tard le {{ deadline_date }}. Sans règlement à cette date, nous vous adresserons une mise en demeure, et des intérêts de retard{% if client_is_business and not client_country == "CA" %} ainsi que l'indemnité forfaitaire pour frais de recouvrement{% endif %} pourront vous être réclamés.

{{ payment_details }}

Cordialement,
{{ business_name }}""",
    ),
    ("fr", "level4"): (
        "Mise en demeure : {% if invoices|length > 1 %}{{ invoices|length }} factures impayées{% else %}la facture {{ invoice_number }} est en retard de {{ days_overdue }} jour{% if days_overdue > 1 %}s{% endif %}{% endif %}",
        NOTICE_TITLE["fr"]
        + NOTICE_HEAD["fr"]
        + NOTICE_BODY["fr"].replace("{legal}", NOTICE_LEGAL_ANY_COUNTRY["fr"]),
    ),
    ("fr", "grouped"): (
        "{{ level_title }} : {{ invoices|length }} factures impayées",
        """Bonjour {{ client_name }},

{% if level >= 2 %}Ceci est notre {{ level_title|lower }} : sauf{% else %}Sauf{% endif %} erreur de notre part, les factures suivantes ne sont pas encore réglées :

{% for invoice in invoices %}- {{ invoice.number }} du {{ invoice.date }}, échue le {{ invoice.due_date }} : {{ invoice.balance }}
{% endfor %}
Total restant dû : {{ total_balance }}

{{ payment_details }}

Si vous avez déjà payé, merci et ne tenez pas compte de ce message.

Bien cordialement,
{{ business_name }}""",
    ),
    # --------------------------------------------------------------- English
    ("en", "before_due"): (
        "Reminder: invoice {{ invoice_number }} is due {% if days_left == 1 %}tomorrow{% else %}in {{ days_left }} days{% endif %}",
        """Hello {{ client_name }},

Just a quick note: invoice {{ invoice_number }} for {{ amount }} is due on {{ due_date }}{% if days_left == 1 %}, tomorrow{% else %}, in {{ days_left }} days{% endif %}.

Balance due: {{ balance }}{% if paid %} (after {{ paid }} already received, thank you){% endif %}

{{ payment_details }}

If the payment is already on its way, thank you, and please ignore this message.

Kind regards,
{{ business_name }}""",
    ),
    ("en", "due_today"): (
        "Reminder: invoice {{ invoice_number }} is due today",
        """Hello {{ client_name }},

Invoice {{ invoice_number }} for {{ amount }} is due today, {{ due_date }}.

Balance due: {{ balance }}{% if paid %} (after {{ paid }} already received, thank you){% endif %}

{{ payment_details }}

If the payment is already on its way, thank you, and please ignore this message.

Kind regards,
{{ business_name }}""",
    ),
    ("en", "level1"): (
        "Reminder: invoice {{ invoice_number }} is {{ days_overdue }} day{% if days_overdue != 1 %}s{% endif %} overdue",
        """Hello {{ client_name }},

Unless we are mistaken, invoice {{ invoice_number }} of {{ invoice_date }}, due on {{ due_date }}, has not been paid yet ({{ days_overdue }} day{% if days_overdue != 1 %}s{% endif %} overdue).

Balance due: {{ balance }}{% if paid %} (after {{ paid }} already received, thank you){% endif %}

{{ payment_details }}

The invoice is attached. If you have already paid, thank you, and please ignore this message; if something is wrong with this invoice, just let us know.

Kind regards,
{{ business_name }}""",
    ),
    ("en", "level2"): (
        "Second reminder: invoice {{ invoice_number }} is {{ days_overdue }} day{% if days_overdue != 1 %}s{% endif %} overdue",
        """Hello {{ client_name }},

This is our second reminder: unless we are mistaken, invoice {{ invoice_number }} of {{ invoice_date }}, due on {{ due_date }}, is still unpaid ({{ days_overdue }} day{% if days_overdue != 1 %}s{% endif %} overdue).

Balance due: {{ balance }}{% if paid %} (after {{ paid }} already received, thank you){% endif %}

Please arrange payment on receipt of this message.

{{ payment_details }}

If the payment is under way, please let us know the date it was made.

Regards,
{{ business_name }}""",
    ),
    ("en", "level3"): (
        "Final reminder: invoice {{ invoice_number }} is {{ days_overdue }} day{% if days_overdue != 1 %}s{% endif %} overdue",
        """Hello {{ client_name }},

This is our final reminder: despite our previous messages, invoice {{ invoice_number }} of {{ invoice_date }}, due on {{ due_date }}, is still unpaid ({{ days_overdue }} day{% if days_overdue != 1 %}s{% endif %} overdue).

Balance due: {{ balance }}{% if paid %} (after {{ paid }} already received, thank you){% endif %}

We ask you to pay it within {{ deadline_days }} days, by {{ deadline_date }} at the latest. If it is not paid by then, we will send you a formal notice, and late-payment interest{% if client_is_business and not client_country == "CA" %} and the fixed recovery compensation{% endif %} may be claimed.

{{ payment_details }}

Regards,
{{ business_name }}""",
    ),
    ("en", "level4"): (
        "Formal notice: {% if invoices|length > 1 %}{{ invoices|length }} unpaid invoices{% else %}invoice {{ invoice_number }} is {{ days_overdue }} day{% if days_overdue != 1 %}s{% endif %} overdue{% endif %}",
        NOTICE_TITLE["en"]
        + NOTICE_HEAD["en"]
        + NOTICE_BODY["en"].replace("{legal}", NOTICE_LEGAL_ANY_COUNTRY["en"]),
    ),
    ("en", "grouped"): (
        "{{ level_title }}: {{ invoices|length }} unpaid invoices",
        """Hello {{ client_name }},

{% if level >= 2 %}This is our {{ level_title|lower }}: unless{% else %}Unless{% endif %} we are mistaken, the following invoices have not been paid yet:

{% for invoice in invoices %}- {{ invoice.number }} of {{ invoice.date }}, due on {{ invoice.due_date }}: {{ invoice.balance }}
{% endfor %}
Total balance due: {{ total_balance }}

{{ payment_details }}

If you have already paid, thank you, and please ignore this message.

Kind regards,
{{ business_name }}""",
    ),
}

LANGUAGES = ("fr", "en")


def _as_letter(body: str) -> str:
    """Letters say "enclosed", not "attached"."""
    return (
        body.replace("Vous trouverez la facture en pièce jointe.", "Vous trouverez la facture ci-jointe.")
        .replace("The invoice is attached.", "The invoice is enclosed.")
        .replace("let us know", "contact us")
    )


LETTER: dict[tuple[str, str], tuple[str, str]] = {
    key: (subject, _as_letter(body)) for key, (subject, body) in EMAIL.items()
}
for _lang in LANGUAGES:
    # The letter's layout already shows the sender, the recipient and the date.
    LETTER[(_lang, "level4")] = (
        EMAIL[(_lang, "level4")][0],
        NOTICE_TITLE[_lang]
        + _as_letter(NOTICE_BODY[_lang].replace("{legal}", NOTICE_LEGAL_ANY_COUNTRY[_lang])),
    )

# The formal notice whose legal paragraph follows the client's country, once the
# render context carries ``client_country`` (see :func:`country_placeholder`).
NOTICE_BY_COUNTRY: dict[tuple[str, str], tuple[str, str]] = {}
for _lang in LANGUAGES:
    _body = NOTICE_BODY[_lang].replace("{legal}", notice_legal_by_country(_lang))
    NOTICE_BY_COUNTRY[("email", _lang)] = (
        EMAIL[(_lang, "level4")][0],
        NOTICE_TITLE[_lang] + NOTICE_HEAD[_lang] + _body,
    )
    NOTICE_BY_COUNTRY[("letter", _lang)] = (
        EMAIL[(_lang, "level4")][0],
        NOTICE_TITLE[_lang] + _as_letter(_body),
    )


def country_placeholder() -> bool:
    """Whether the render context has ``client_country`` (app/documents/messages.py,
    PLACEHOLDERS and context_for). Until it has, the built-in formal notice cites
    French law for every client: the sandbox refuses a text naming an unknown value."""
    from .messages import PLACEHOLDERS

    return "client_country" in PLACEHOLDERS


def default(kind: str, channel: str, language: str) -> tuple[str, str]:
    """(subject, body) built in, for a language we ship (fr, en); English otherwise."""
    if kind == "level4" and country_placeholder():
        channel = "letter" if channel == "letter" else "email"
        return NOTICE_BY_COUNTRY[(channel, language if language in LANGUAGES else "en")]
    table = LETTER if channel == "letter" else EMAIL
    return table.get((language, kind)) or table[("en", kind)]
