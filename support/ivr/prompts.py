"""Every sentence the IVR speaks, in one place so that staff can review the wording."""

from __future__ import annotations

GREETING = "お電話ありがとうございます。{desk}です。"
GREETING_MUNICIPALITY = (
    "お電話ありがとうございます。{municipality} ふるさと納税 お問い合わせ窓口です。"
)
OUT_OF_HOURS = (
    "ただいま受付時間外です。受付時間は、{hours}です。この時間は、自動音声でご案内いたします。"
)
MENU_STATUS = "返礼品の配送状況のお問い合わせは、1を、"
MENU_FAQ = "ふるさと納税についてのよくあるご質問は、2を、"
MENU_VOICEMAIL = "ご意見や苦情、そのほかのご用件でご伝言を残される場合は、3を、"
MENU_OPERATOR = "担当者とお話しになる場合は、0を、"
MENU_END = "押してください。もう一度お聞きになる場合は、9を押してください。"
REPROMPT = "恐れ入りますが、確認できませんでした。"
STATUS_LOCKED = "このお電話での配送状況のご案内は終了しました。"

OPERATOR_CONNECTING = "担当者におつなぎします。しばらくお待ちください。"
OPERATOR_CLOSED = "ただいま受付時間外のため、担当者におつなぎできません。"
OPERATOR_MISSED = (
    "申し訳ございません。ただいま担当者が大変込み合っております。自動音声でご案内いたします。"
)
OPERATOR_WAIT = "ただいま担当者がほかのお電話に対応しております。このまま、しばらくお待ちください。"

ORDER_NO = (
    "寄附番号、または注文番号の数字を、ボタンで入力し、最後にシャープを押してください。"
    "英字とハイフンは入力不要です。"
)
NUMBER_KEYED = "ご入力の番号は、{digits}、です。"
PHONE_LAST4 = "ご本人確認のため、ご登録のお電話番号の、下4けたを入力してください。"
VERIFY_FAILED = "ご入力の番号では、ご本人の確認ができませんでした。"
VERIFY_AGAIN = "もう一度、最初から入力してください。"
VERIFY_LOCKED = (
    "確認ができなかったため、配送状況のご案内を終了します。"
    "お手数ですが、受付時間内に担当者までお問い合わせください。"
)
STATUS_READ = "お問い合わせの返礼品は、現在、{status}です。"
STATUS_SHIPPED = "発送日は、{date}。配送業者は、{carrier}です。"
STATUS_SHIPPED_NO_CARRIER = "発送日は、{date}です。"
STATUS_NOT_SHIPPED = "まだ発送されておりません。"
STATUS_SHIP_BY = "まだ発送されておりません。発送は、{date}までの予定です。"
STATUS_LATE = (
    "発送が予定より遅れております。申し訳ございません。"
    "状況の確認をご希望の場合は、このあと3を押して、ご伝言をお残しください。"
)

QUESTION = "ご質問を、短くお話しください。"
QUESTION_AGAIN = "もう一度、ご質問をお話しください。"
QUESTION_NO_ANSWER = "申し訳ございません。お答えを見つけられませんでした。別の言い方で、"
ANSWER = "ご案内します。{answer}"
ANSWER_NEXT = "こちらのご案内はいかがでしょうか。{answer}"
CONFIRM = (
    "このご案内で解決しましたら1を、別のご質問をされる場合は2を、"
    "担当者へのご伝言を残される場合は3を押してください。"
)
RESOLVED = "お役に立てて、何よりです。"
ANYTHING_ELSE = (
    "ほかにご用件がございましたら、メニューの番号を押してください。"
    "ございませんでしたら、このままお電話をお切りください。"
)
GOODBYE = "お電話ありがとうございました。"

VOICEMAIL_INTRO = "担当者へのご伝言を承ります。"
VOICEMAIL_SUMMARY = "はじめに、ご用件を、ひとことでお話しください。"
VOICEMAIL_RECORD = (
    "続いて、発信音のあとに、お名前、ご用件、折り返し先のお電話番号をお話しください。"
    "お話しが終わりましたら、シャープを押してください。"
)
VOICEMAIL_DONE = "ご伝言を承りました。{callback}以降に、担当者から折り返しお電話いたします。"
VOICEMAIL_EMPTY = "ご伝言を確認できませんでした。恐れ入りますが、おかけ直しください。"

FALLBACK_APOLOGY = (
    "お電話ありがとうございます。ふるさと納税 お問い合わせ窓口です。"
    "申し訳ございません。ただいまシステムの障害により、自動音声のご案内を停止しております。"
)
FALLBACK_HOURS = "担当者の受付時間は、{hours}です。恐れ入りますが、受付時間内におかけ直しください。"
FALLBACK_ONE_STOP = (
    "ワンストップ特例の申請書は、寄附をした翌年の1月10日必着で、寄附先の自治体へお送りください。"
)
FALLBACK_END = "ご不便をおかけして申し訳ございません。"
